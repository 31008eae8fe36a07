//! What a merchant does in one step, each returning the instructions to sign. Each flow runs
//! the program's own rules (the `Payment` state methods the instruction itself calls) on the
//! decoded payment first, so a call the program would refuse fails here, with the program's
//! error by name, before anything is sent.

use crate::{
    SdkError,
    payments::{MintRef, OrderId, Payments, SettlementRefs},
    programs::KassaProgram,
    solana_pay::{TransactionRequest, payment_link},
};
use anchor_lang::{prelude::Pubkey, solana_program::instruction::Instruction};
use kassa_payments::state::Payment;

/// An invoice ready to be opened and shared.
#[derive(Debug)]
pub struct OpenedInvoice {
    /// The instructions to sign (the merchant authority signs and pays the rent).
    pub instructions: Vec<Instruction>,
    /// The payment PDA, also the Solana Pay reference.
    pub payment: Pubkey,
    /// Solana Pay transaction-request link a wallet scans to pay.
    pub link: TransactionRequest,
}

/// The payments program's refusal, by name.
fn refused(e: anchor_lang::error::Error) -> SdkError {
    KassaProgram::Payments.refusal(e)
}

impl Payments {
    /// Opens an invoice and returns its payment link under `pay_base_url` (the merchant's or
    /// Kassa's transaction-request endpoint, `https://…`).
    ///
    /// ```
    /// # use kassa_sdk::payments::{OrderId, Payments};
    /// # use anchor_lang::prelude::Pubkey;
    /// let (authority, merchant) = (Pubkey::new_unique(), Pubkey::new_unique());
    /// let invoice = Payments::default()
    ///     .open_invoice_with_link(&authority, &merchant, &OrderId::new("A-1").unwrap(), 5_000_000, 1_900_000_000, "https://pay.example.com")
    ///     .unwrap();
    /// assert!(invoice.link.to_string().ends_with(&invoice.payment.to_string()));
    /// ```
    pub fn open_invoice_with_link(
        &self,
        authority: &Pubkey,
        merchant: &Pubkey,
        order_id: &OrderId,
        amount: u64,
        expires_at: i64,
        pay_base_url: &str,
    ) -> Result<OpenedInvoice, SdkError> {
        let (ix, payment) = self.invoice_open(authority, merchant, order_id, amount, expires_at)?;
        let link =
            payment_link(pay_base_url, &payment).map_err(|e| SdkError::SolanaPay(e.to_string()))?;
        Ok(OpenedInvoice {
            instructions: vec![ix],
            payment,
            link,
        })
    }

    /// Captures everything still escrowed (`signer`: the merchant authority or its operator)
    /// and, when the payment can then be closed (its refund window is over at `now`), closes it
    /// so the rent comes back to `rent_receiver` (`Merchant::rent_receiver`). `pause_clock` is the
    /// payments config's at `now` ([`Config::pause_clock`](kassa_payments::state::Config::pause_clock),
    /// see [`KassaClient::pause_clock`](crate::rpc::KassaClient::pause_clock)): time the protocol
    /// spent paused does not count against the authorization.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments, SettlementRefs};
    /// # use kassa_payments::state::{Payment, PaymentStatus};
    /// # use anchor_lang::prelude::Pubkey;
    /// let p = Payments::default();
    /// let refs = SettlementRefs {
    ///     merchant: Pubkey::new_unique(), payment: Pubkey::new_unique(),
    ///     mint: MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     fee_receiver: Pubkey::new_unique(), settlement_wallet: Pubkey::new_unique(), assignee: None,
    /// };
    /// let open = Payment {
    ///     merchant: refs.merchant, mint: refs.mint.mint, payer: Pubkey::default(), assignee: Pubkey::default(),
    ///     amount: 10, authorized: 0, captured: 0, released: 0, refunded: 0, assigned: 0,
    ///     status: PaymentStatus::Open, status_at: 0, expires_at: 1, authorization_expires_at: 0,
    ///     refund_deadline: 0, dispute_deadline: 0, auto_capture_at: 0, seq: 1, bump: 255,
    ///     pause_clock_at_authorization: 0,
    ///     opened_by_operator: false, reserved: [0; 5],
    /// };
    /// let k = Pubkey::new_unique();
    /// assert!(p.capture_and_close(&k, &k, &refs, &open, 0, 0).is_err());
    /// ```
    pub fn capture_and_close(
        &self,
        signer: &Pubkey,
        rent_receiver: &Pubkey,
        refs: &SettlementRefs,
        payment: &Payment,
        now: i64,
        pause_clock: i64,
    ) -> Result<Vec<Instruction>, SdkError> {
        let escrowed = payment.escrowed().map_err(refused)?;
        payment
            .check_capturable(escrowed, now, pause_clock)
            .map_err(refused)?;
        // Closable once captured? The program's own rule on the payment as the capture leaves it.
        let mut captured = payment.clone();
        captured
            .capture(escrowed, 0, now, pause_clock)
            .map_err(refused)?;
        let mut ixs = vec![self.payment_capture(signer, refs, escrowed)?];
        if captured.is_closable(now).map_err(refused)? {
            ixs.push(self.payment_close(signer, &refs.merchant, &refs.payment, rent_receiver)?);
        }
        Ok(ixs)
    }

    /// Refunds `amount` of what was captured, from the merchant authority's token account.
    ///
    /// ```
    /// # use kassa_sdk::{payments::{MintRef, Payments}, SdkError};
    /// # use kassa_payments::state::{Payment, PaymentStatus};
    /// # use anchor_lang::prelude::Pubkey;
    /// let mint = MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap();
    /// let captured = Payment {
    ///     merchant: Pubkey::new_unique(), mint: mint.mint, payer: Pubkey::new_unique(), assignee: Pubkey::default(),
    ///     amount: 10, authorized: 10, captured: 10, released: 0, refunded: 0, assigned: 0,
    ///     status: PaymentStatus::Captured, status_at: 0, expires_at: 1, authorization_expires_at: 100,
    ///     refund_deadline: 1_000, dispute_deadline: 100, auto_capture_at: 0, seq: 3, bump: 255,
    ///     pause_clock_at_authorization: 0,
    ///     opened_by_operator: false, reserved: [0; 5],
    /// };
    /// let p = Payments::default();
    /// let (authority, payment) = (Pubkey::new_unique(), Pubkey::new_unique());
    /// assert!(p.refund_checked(&authority, &payment, &captured, &mint, 4, 500).is_ok());
    /// assert!(matches!(p.refund_checked(&authority, &payment, &captured, &mint, 11, 500),
    ///     Err(SdkError::Program(e)) if e.name == "RefundExceedsCaptured"));
    /// assert!(p.refund_checked(&authority, &payment, &captured, &mint, 4, 2_000).is_err());
    /// ```
    pub fn refund_checked(
        &self,
        authority: &Pubkey,
        payment_address: &Pubkey,
        payment: &Payment,
        mint: &MintRef,
        amount: u64,
        now: i64,
    ) -> Result<Vec<Instruction>, SdkError> {
        if mint.mint != payment.mint {
            return Err(SdkError::WrongMint {
                expected: payment.mint,
                got: mint.mint,
            });
        }
        payment.check_refundable(amount, now).map_err(refused)?;
        Ok(vec![self.payment_refund(
            authority,
            &payment.merchant,
            payment_address,
            mint,
            &payment.payer,
            amount,
        )?])
    }
}
