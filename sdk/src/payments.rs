//! Instruction builders for every instruction of `kassa_payments`.
//!
//! Accounts are derived wherever they can be: PDAs, the event authority, and associated token
//! accounts (payouts go to the associated token account of the wallet named in the config or
//! merchant profile). Builders check what they can without the chain and never panic.

use crate::{SdkError, pda};
use anchor_lang::{
    InstructionData, ToAccountMetas, prelude::Pubkey, solana_program::instruction::Instruction,
    system_program,
};
use anchor_spl::associated_token::get_associated_token_address_with_program_id;
use kassa_payments::{
    accounts as acc,
    constants::MAX_HOOKS,
    constants::MAX_PROTOCOL_FEE_BPS,
    instruction as ix,
    instructions::{
        ConfigInitArgs, ConfigUpdateArgs, InvoiceOpenArgs, MerchantRegisterArgs, MerchantUpdateArgs,
    },
    state::MerchantPolicy,
};

/// A mint and the token program that owns it (SPL Token or Token-2022).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MintRef {
    /// The mint address.
    pub mint: Pubkey,
    /// SPL Token or Token-2022, whichever owns the mint.
    pub token_program: Pubkey,
}

impl MintRef {
    /// Checks the token program is one the escrow supports.
    pub fn new(mint: Pubkey, token_program: Pubkey) -> Result<Self, SdkError> {
        if token_program != anchor_spl::token::ID && token_program != anchor_spl::token_2022::ID {
            return Err(SdkError::UnknownTokenProgram(token_program));
        }
        Ok(Self {
            mint,
            token_program,
        })
    }

    /// The associated token account of `owner` for this mint.
    pub fn ata(&self, owner: &Pubkey) -> Pubkey {
        get_associated_token_address_with_program_id(owner, &self.mint, &self.token_program)
    }
}

/// A merchant's order id: 1 to 32 bytes, zero-padded into the payment PDA seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderId([u8; 32]);

impl OrderId {
    /// Parses an order id such as `"INV-2026-0042"`.
    pub fn new(order_id: &str) -> Result<Self, SdkError> {
        let bytes = order_id.as_bytes();
        if bytes.is_empty() || bytes.len() > 32 {
            return Err(SdkError::OrderIdLength(bytes.len()));
        }
        let mut padded = [0u8; 32];
        padded[..bytes.len()].copy_from_slice(bytes);
        Ok(Self(padded))
    }

    /// The zero-padded seed bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The order id as text, padding removed.
    pub fn to_text(&self) -> String {
        let end = self.0.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

impl From<[u8; 32]> for OrderId {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

/// What a capture, an auto-capture or a dispute resolution pays out to.
#[derive(Clone, Copy, Debug)]
pub struct SettlementRefs {
    /// The merchant PDA.
    pub merchant: Pubkey,
    /// The payment PDA.
    pub payment: Pubkey,
    /// The payment's mint.
    pub mint: MintRef,
    /// `Config::fee_receiver`; the fee goes to its associated token account.
    pub fee_receiver: Pubkey,
    /// `Merchant::settlement_wallet`; proceeds go to its associated token account.
    pub settlement_wallet: Pubkey,
    /// `Payment::assignee` when a receivable is assigned.
    pub assignee: Option<Pubkey>,
}

impl SettlementRefs {
    /// The same payout with another settlement wallet (after a merchant profile change).
    pub fn with_wallet(mut self, settlement_wallet: Pubkey) -> Self {
        self.settlement_wallet = settlement_wallet;
        self
    }
}

/// What returns escrow to the payer (void, reclaim, reject).
#[derive(Clone, Copy, Debug)]
pub struct ReleaseRefs {
    /// The payment PDA.
    pub payment: Pubkey,
    /// The payment's mint.
    pub mint: MintRef,
    /// `Payment::payer`; funds go back to its associated token account.
    pub payer: Pubkey,
}

/// Builds `kassa_payments` instructions for one deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payments {
    /// The kassa_payments deployment.
    pub program_id: Pubkey,
}

impl Default for Payments {
    fn default() -> Self {
        Self {
            program_id: kassa_payments::ID,
        }
    }
}

fn require_amount(amount: u64) -> Result<(), SdkError> {
    if amount == 0 {
        Err(SdkError::ZeroAmount)
    } else {
        Ok(())
    }
}

impl Payments {
    /// Builder for a deployment at `program_id`.
    pub fn new(program_id: Pubkey) -> Self {
        Self { program_id }
    }

    fn build(&self, accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
        Instruction {
            program_id: self.program_id,
            accounts: accounts.to_account_metas(None),
            data: data.data(),
        }
    }

    fn config(&self) -> Pubkey {
        pda::config(&self.program_id).0
    }

    fn event_authority(&self) -> Pubkey {
        pda::event_authority(&self.program_id).0
    }

    fn settlement(&self, s: &SettlementRefs) -> acc::Settlement {
        let vault = pda::vault(&self.program_id, &s.mint.mint).0;
        acc::Settlement {
            config: self.config(),
            merchant: s.merchant,
            payment: s.payment,
            mint: s.mint.mint,
            vault,
            escrow_authority: pda::escrow_authority(&self.program_id).0,
            fee_destination: s.mint.ata(&s.fee_receiver),
            merchant_destination: s.mint.ata(&s.settlement_wallet),
            assignee_destination: s.assignee,
            token_program: s.mint.token_program,
        }
    }

    fn release(&self, r: &ReleaseRefs) -> acc::Release {
        acc::Release {
            payment: r.payment,
            mint: r.mint.mint,
            vault: pda::vault(&self.program_id, &r.mint.mint).0,
            escrow_authority: pda::escrow_authority(&self.program_id).0,
            payer_destination: r.mint.ata(&r.payer),
            token_program: r.mint.token_program,
        }
    }

    /// Creates the config; `admin` must be the upgrade authority on an upgradeable deployment.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use kassa_payments::instructions::ConfigInitArgs;
    /// # use anchor_lang::prelude::Pubkey;
    /// let admin = Pubkey::new_unique();
    /// let args = ConfigInitArgs {
    ///     compliance_authority: Pubkey::new_unique(),
    ///     arbiter: Pubkey::new_unique(),
    ///     fee_receiver: Pubkey::new_unique(),
    ///     protocol_fee_bps: 30,
    /// };
    /// let ix = Payments::default().config_init(&admin, &admin, None, args).unwrap();
    /// assert_eq!(ix.program_id, kassa_payments::ID);
    /// ```
    pub fn config_init(
        &self,
        payer: &Pubkey,
        admin: &Pubkey,
        program_data: Option<Pubkey>,
        args: ConfigInitArgs,
    ) -> Result<Instruction, SdkError> {
        if args.protocol_fee_bps > MAX_PROTOCOL_FEE_BPS {
            return Err(SdkError::FeeAboveCap(args.protocol_fee_bps));
        }
        Ok(self.build(
            acc::ConfigInit {
                payer: *payer,
                admin: *admin,
                config: self.config(),
                payments_program: self.program_id,
                program_data,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::ConfigInit { args },
        ))
    }

    /// Admin updates settings; `None` fields stay unchanged.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use kassa_payments::instructions::ConfigUpdateArgs;
    /// # use anchor_lang::prelude::Pubkey;
    /// let args = ConfigUpdateArgs { paused: Some(true), ..Default::default() };
    /// assert!(Payments::default().config_update(&Pubkey::new_unique(), args).is_ok());
    /// ```
    pub fn config_update(
        &self,
        admin: &Pubkey,
        args: ConfigUpdateArgs,
    ) -> Result<Instruction, SdkError> {
        if let Some(bps) = args
            .protocol_fee_bps
            .filter(|bps| *bps > MAX_PROTOCOL_FEE_BPS)
        {
            return Err(SdkError::FeeAboveCap(bps));
        }
        if let Some(hooks) = args.hooks.as_ref().filter(|h| h.len() > MAX_HOOKS) {
            return Err(SdkError::TooManyHooks(hooks.len()));
        }
        Ok(self.build(
            acc::ConfigUpdate {
                admin: *admin,
                config: self.config(),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::ConfigUpdate { args },
        ))
    }

    /// Hands the admin role to `new_admin`; both sign.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let ix = Payments::default()
    ///     .config_transfer_admin(&Pubkey::new_unique(), &Pubkey::new_unique())
    ///     .unwrap();
    /// assert!(ix.accounts[1].is_signer);
    /// ```
    pub fn config_transfer_admin(
        &self,
        admin: &Pubkey,
        new_admin: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::ConfigTransferAdmin {
                admin: *admin,
                new_admin: *new_admin,
                config: self.config(),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::ConfigTransferAdmin {},
        ))
    }

    /// Opens the escrow vault of `mint`; `payer` pays the rent.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments};
    /// # use anchor_lang::prelude::Pubkey;
    /// let mint = MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap();
    /// assert!(Payments::default().vault_open(&Pubkey::new_unique(), &mint).is_ok());
    /// ```
    pub fn vault_open(&self, payer: &Pubkey, mint: &MintRef) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::VaultOpen {
                payer: *payer,
                config: self.config(),
                mint: mint.mint,
                escrow_authority: pda::escrow_authority(&self.program_id).0,
                vault: pda::vault(&self.program_id, &mint.mint).0,
                token_program: mint.token_program,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::VaultOpen {},
        ))
    }

    /// Registers the merchant whose id is `authority`; returns the instruction and the merchant
    /// address.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use kassa_payments::state::MerchantPolicy;
    /// # use anchor_lang::prelude::Pubkey;
    /// let policy = MerchantPolicy {
    ///     authorization_window: 7 * 86_400,
    ///     auto_capture_delay: 0,
    ///     refund_window: 30 * 86_400,
    ///     dispute_window: 7 * 86_400,
    ///     require_kyt: false,
    /// };
    /// let authority = Pubkey::new_unique();
    /// let (ix, merchant) = Payments::default()
    ///     .merchant_register(&authority, &Pubkey::new_unique(), &authority, policy)
    ///     .unwrap();
    /// assert_eq!(ix.accounts[2].pubkey, merchant);
    /// ```
    pub fn merchant_register(
        &self,
        authority: &Pubkey,
        settlement_mint: &Pubkey,
        settlement_wallet: &Pubkey,
        policy: MerchantPolicy,
    ) -> Result<(Instruction, Pubkey), SdkError> {
        let merchant = pda::merchant(&self.program_id, authority).0;
        let ix = self.build(
            acc::MerchantRegister {
                authority: *authority,
                config: self.config(),
                merchant,
                settlement_mint: *settlement_mint,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::MerchantRegister {
                args: MerchantRegisterArgs {
                    settlement_wallet: *settlement_wallet,
                    policy,
                },
            },
        );
        Ok((ix, merchant))
    }

    /// The merchant changes its profile. A new authority must co-sign the transaction.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use kassa_payments::instructions::MerchantUpdateArgs;
    /// # use anchor_lang::prelude::Pubkey;
    /// let ix = Payments::default().merchant_update(
    ///     &Pubkey::new_unique(), &Pubkey::new_unique(), None, None,
    ///     MerchantUpdateArgs { settlement_wallet: Some(Pubkey::new_unique()), policy: None },
    /// );
    /// assert!(ix.is_ok());
    /// ```
    pub fn merchant_update(
        &self,
        authority: &Pubkey,
        merchant: &Pubkey,
        new_authority: Option<Pubkey>,
        new_settlement_mint: Option<Pubkey>,
        args: MerchantUpdateArgs,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::MerchantUpdate {
                authority: *authority,
                merchant: *merchant,
                new_authority,
                new_settlement_mint,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::MerchantUpdate { args },
        ))
    }

    /// The merchant authority sets its operator (`Some`: that key co-signs the transaction) or
    /// removes it (`None`).
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let (authority, merchant, server) = (Pubkey::new_unique(), Pubkey::new_unique(), Pubkey::new_unique());
    /// let ix = Payments::default().merchant_operator_set(&authority, &merchant, Some(server)).unwrap();
    /// assert!(ix.accounts.iter().any(|a| a.pubkey == server && a.is_signer));
    /// ```
    pub fn merchant_operator_set(
        &self,
        authority: &Pubkey,
        merchant: &Pubkey,
        operator: Option<Pubkey>,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::MerchantOperatorSet {
                authority: *authority,
                merchant: *merchant,
                operator,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::MerchantOperatorSet {},
        ))
    }

    /// Admin sets (or with `None` clears) a merchant's fee tier in basis points.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let p = Payments::default();
    /// assert!(p.merchant_set_fee_tier(&Pubkey::new_unique(), &Pubkey::new_unique(), Some(10)).is_ok());
    /// assert!(p.merchant_set_fee_tier(&Pubkey::new_unique(), &Pubkey::new_unique(), Some(5_000)).is_err());
    /// ```
    pub fn merchant_set_fee_tier(
        &self,
        admin: &Pubkey,
        merchant: &Pubkey,
        fee_bps: Option<u16>,
    ) -> Result<Instruction, SdkError> {
        if let Some(bps) = fee_bps.filter(|bps| *bps > MAX_PROTOCOL_FEE_BPS) {
            return Err(SdkError::FeeAboveCap(bps));
        }
        Ok(self.build(
            acc::MerchantSetFeeTier {
                admin: *admin,
                config: self.config(),
                merchant: *merchant,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::MerchantSetFeeTier { fee_bps },
        ))
    }

    fn kyb_accounts(&self, compliance: &Pubkey, merchant: &Pubkey) -> acc::MerchantKyb {
        acc::MerchantKyb {
            compliance_authority: *compliance,
            config: self.config(),
            merchant: *merchant,
            event_authority: self.event_authority(),
            program: self.program_id,
        }
    }

    /// Compliance approves a merchant; `case_hash` is the SHA-256 of the off-chain KYB case.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let ix = Payments::default()
    ///     .merchant_kyb_attest(&Pubkey::new_unique(), &Pubkey::new_unique(), [7; 32]);
    /// assert!(ix.is_ok());
    /// ```
    pub fn merchant_kyb_attest(
        &self,
        compliance: &Pubkey,
        merchant: &Pubkey,
        case_hash: [u8; 32],
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            self.kyb_accounts(compliance, merchant),
            ix::MerchantKybAttest { case_hash },
        ))
    }

    /// Compliance suspends a merchant.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let ix = Payments::default()
    ///     .merchant_kyb_suspend(&Pubkey::new_unique(), &Pubkey::new_unique(), [9; 32]);
    /// assert!(ix.is_ok());
    /// ```
    pub fn merchant_kyb_suspend(
        &self,
        compliance: &Pubkey,
        merchant: &Pubkey,
        case_hash: [u8; 32],
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            self.kyb_accounts(compliance, merchant),
            ix::MerchantKybSuspend { case_hash },
        ))
    }

    /// Compliance blocks `wallet` from paying.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let ix = Payments::default().blocklist_add(&Pubkey::new_unique(), &Pubkey::new_unique(), [1; 32]);
    /// assert!(ix.is_ok());
    /// ```
    pub fn blocklist_add(
        &self,
        compliance: &Pubkey,
        wallet: &Pubkey,
        reason_hash: [u8; 32],
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::BlocklistAdd {
                compliance_authority: *compliance,
                config: self.config(),
                entry: pda::blocklist_entry(&self.program_id, wallet).0,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::BlocklistAdd {
                wallet: *wallet,
                reason_hash,
            },
        ))
    }

    /// Compliance unblocks `wallet`; the entry's rent returns to `rent_payer`.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Pubkey::new_unique();
    /// assert!(Payments::default().blocklist_remove(&c, &Pubkey::new_unique(), &c).is_ok());
    /// ```
    pub fn blocklist_remove(
        &self,
        compliance: &Pubkey,
        wallet: &Pubkey,
        rent_payer: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::BlocklistRemove {
                compliance_authority: *compliance,
                config: self.config(),
                entry: pda::blocklist_entry(&self.program_id, wallet).0,
                rent_payer: *rent_payer,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::BlocklistRemove {},
        ))
    }

    /// The merchant opens an invoice; returns the instruction and the payment address. `signer`
    /// is the merchant authority or its operator, and pays the rent.
    ///
    /// ```
    /// # use kassa_sdk::payments::{OrderId, Payments};
    /// # use anchor_lang::prelude::Pubkey;
    /// let p = Payments::default();
    /// let order = OrderId::new("INV-1001").unwrap();
    /// let (ix, payment) = p
    ///     .invoice_open(&Pubkey::new_unique(), &Pubkey::new_unique(), &order, 25_000_000, 1_900_000_000)
    ///     .unwrap();
    /// assert_eq!(ix.accounts[3].pubkey, payment);
    /// assert!(p.invoice_open(&Pubkey::new_unique(), &Pubkey::new_unique(), &order, 0, 1).is_err());
    /// ```
    pub fn invoice_open(
        &self,
        signer: &Pubkey,
        merchant: &Pubkey,
        order_id: &OrderId,
        amount: u64,
        expires_at: i64,
    ) -> Result<(Instruction, Pubkey), SdkError> {
        require_amount(amount)?;
        let payment = pda::payment(&self.program_id, merchant, order_id.as_bytes()).0;
        let ix = self.build(
            acc::InvoiceOpen {
                signer: *signer,
                config: self.config(),
                merchant: *merchant,
                payment,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::InvoiceOpen {
                args: InvoiceOpenArgs {
                    order_id: *order_id.as_bytes(),
                    amount,
                    expires_at,
                },
            },
        );
        Ok((ix, payment))
    }

    /// The merchant (authority or operator) cancels an unpaid invoice.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let k = Pubkey::new_unique();
    /// assert!(Payments::default().invoice_cancel(&k, &k, &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn invoice_cancel(
        &self,
        signer: &Pubkey,
        merchant: &Pubkey,
        payment: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::InvoiceCancel {
                signer: *signer,
                merchant: *merchant,
                payment: *payment,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::InvoiceCancel {},
        ))
    }

    /// Anyone expires an unpaid invoice after its expiry.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// assert!(Payments::default().invoice_expire(&Pubkey::new_unique(), &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn invoice_expire(
        &self,
        cranker: &Pubkey,
        payment: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::InvoiceExpire {
                cranker: *cranker,
                payment: *payment,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::InvoiceExpire {},
        ))
    }

    /// The payer pays from its associated token account. `kyt_authority` is the compliance
    /// authority when it co-signs after screening.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments};
    /// # use anchor_lang::prelude::Pubkey;
    /// let mint = MintRef::new(Pubkey::new_unique(), anchor_spl::token_2022::ID).unwrap();
    /// let ix = Payments::default().payment_pay(
    ///     &Pubkey::new_unique(), &Pubkey::new_unique(), &Pubkey::new_unique(), &mint, None,
    /// );
    /// assert!(ix.is_ok());
    /// ```
    pub fn payment_pay(
        &self,
        payer: &Pubkey,
        merchant: &Pubkey,
        payment: &Pubkey,
        mint: &MintRef,
        kyt_authority: Option<Pubkey>,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PaymentPay {
                payer: *payer,
                config: self.config(),
                merchant: *merchant,
                payment: *payment,
                mint: mint.mint,
                payer_token: mint.ata(payer),
                vault: pda::vault(&self.program_id, &mint.mint).0,
                payer_blocklist_entry: pda::blocklist_entry(&self.program_id, payer).0,
                kyt_authority,
                token_program: mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PaymentPay {},
        ))
    }

    /// The payer pays in another token through a registered hook, spending at most `max_in`.
    /// `hook_accounts` is the hook's account list in interface order (for a Kassa pool,
    /// [`crate::convert::Convert::hook_accounts`] with the escrow vault as destination).
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::{MintRef, Payments}};
    /// # use anchor_lang::prelude::Pubkey;
    /// let (p, c) = (Payments::default(), Convert::default());
    /// let usdc = MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap();
    /// let usdt = MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap();
    /// let payer = Pubkey::new_unique();
    /// let pool = c.pool(usdc, usdt);
    /// let escrow = kassa_sdk::pda::vault(&p.program_id, &usdc.mint).0;
    /// let hook = c.hook_accounts(&pool, &payer, &usdt.mint, &escrow).unwrap();
    /// let ix = p.payment_pay_with_conversion(
    ///     &payer, &Pubkey::new_unique(), &Pubkey::new_unique(), &usdc, &usdt, c.program_id, hook, None, 101,
    /// );
    /// assert!(ix.is_ok());
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn payment_pay_with_conversion(
        &self,
        payer: &Pubkey,
        merchant: &Pubkey,
        payment: &Pubkey,
        mint: &MintRef,
        input: &MintRef,
        hook_program: Pubkey,
        hook_accounts: Vec<anchor_lang::solana_program::instruction::AccountMeta>,
        kyt_authority: Option<Pubkey>,
        max_in: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(max_in)?;
        let mut ix = self.build(
            acc::PaymentPayWithConversion {
                payer: *payer,
                config: self.config(),
                merchant: *merchant,
                payment: *payment,
                mint: mint.mint,
                vault: pda::vault(&self.program_id, &mint.mint).0,
                payer_source: input.ata(payer),
                payer_blocklist_entry: pda::blocklist_entry(&self.program_id, payer).0,
                kyt_authority,
                hook_program,
                token_program: mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PaymentPayWithConversion { max_in },
        );
        ix.accounts.extend(hook_accounts);
        Ok(ix)
    }

    /// The merchant captures `amount` of the escrow.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments, SettlementRefs};
    /// # use anchor_lang::prelude::Pubkey;
    /// let refs = SettlementRefs {
    ///     merchant: Pubkey::new_unique(),
    ///     payment: Pubkey::new_unique(),
    ///     mint: MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     fee_receiver: Pubkey::new_unique(),
    ///     settlement_wallet: Pubkey::new_unique(),
    ///     assignee: None,
    /// };
    /// assert!(Payments::default().payment_capture(&Pubkey::new_unique(), &refs, 10).is_ok());
    /// assert!(Payments::default().payment_capture(&Pubkey::new_unique(), &refs, 0).is_err());
    /// ```
    pub fn payment_capture(
        &self,
        signer: &Pubkey,
        refs: &SettlementRefs,
        amount: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        Ok(self.build(
            acc::PaymentCapture {
                signer: *signer,
                settlement: self.settlement(refs),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PaymentCapture { amount },
        ))
    }

    /// Anyone captures the whole escrow once auto-capture is due.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments, SettlementRefs};
    /// # use anchor_lang::prelude::Pubkey;
    /// let refs = SettlementRefs {
    ///     merchant: Pubkey::new_unique(),
    ///     payment: Pubkey::new_unique(),
    ///     mint: MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     fee_receiver: Pubkey::new_unique(),
    ///     settlement_wallet: Pubkey::new_unique(),
    ///     assignee: None,
    /// };
    /// assert!(Payments::default().payment_auto_capture(&Pubkey::new_unique(), &refs).is_ok());
    /// ```
    pub fn payment_auto_capture(
        &self,
        cranker: &Pubkey,
        refs: &SettlementRefs,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PaymentAutoCapture {
                cranker: *cranker,
                settlement: self.settlement(refs),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PaymentAutoCapture {},
        ))
    }

    /// The merchant (authority or operator) voids what is still escrowed.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments, ReleaseRefs};
    /// # use anchor_lang::prelude::Pubkey;
    /// let refs = ReleaseRefs {
    ///     payment: Pubkey::new_unique(),
    ///     mint: MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     payer: Pubkey::new_unique(),
    /// };
    /// let k = Pubkey::new_unique();
    /// assert!(Payments::default().payment_void(&k, &k, &refs).is_ok());
    /// ```
    pub fn payment_void(
        &self,
        signer: &Pubkey,
        merchant: &Pubkey,
        refs: &ReleaseRefs,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PaymentVoid {
                signer: *signer,
                merchant: *merchant,
                release: self.release(refs),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PaymentVoid {},
        ))
    }

    /// The payer reclaims the escrow after the authorization expired.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments, ReleaseRefs};
    /// # use anchor_lang::prelude::Pubkey;
    /// let payer = Pubkey::new_unique();
    /// let refs = ReleaseRefs {
    ///     payment: Pubkey::new_unique(),
    ///     mint: MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     payer,
    /// };
    /// assert!(Payments::default().payment_reclaim(&refs).is_ok());
    /// ```
    pub fn payment_reclaim(&self, refs: &ReleaseRefs) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PaymentReclaim {
                payer: refs.payer,
                config: self.config(),
                release: self.release(refs),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PaymentReclaim {},
        ))
    }

    /// The merchant refunds `amount` from its authority's associated token account.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments};
    /// # use anchor_lang::prelude::Pubkey;
    /// let mint = MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap();
    /// let k = Pubkey::new_unique();
    /// let ix = Payments::default().payment_refund(&k, &k, &Pubkey::new_unique(), &mint, &Pubkey::new_unique(), 5);
    /// assert!(ix.is_ok());
    /// ```
    pub fn payment_refund(
        &self,
        authority: &Pubkey,
        merchant: &Pubkey,
        payment: &Pubkey,
        mint: &MintRef,
        payer: &Pubkey,
        amount: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        Ok(self.build(
            acc::PaymentRefund {
                authority: *authority,
                merchant: *merchant,
                payment: *payment,
                mint: mint.mint,
                refund_source: mint.ata(authority),
                payer_destination: mint.ata(payer),
                token_program: mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PaymentRefund { amount },
        ))
    }

    /// The payer disputes; `reason_hash` names the off-chain claim.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// assert!(Payments::default().dispute_open(&Pubkey::new_unique(), &Pubkey::new_unique(), [3; 32]).is_ok());
    /// ```
    pub fn dispute_open(
        &self,
        payer: &Pubkey,
        payment: &Pubkey,
        reason_hash: [u8; 32],
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::DisputeOpen {
                payer: *payer,
                payment: *payment,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::DisputeOpen { reason_hash },
        ))
    }

    /// The arbiter splits the disputed escrow.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments, SettlementRefs};
    /// # use anchor_lang::prelude::Pubkey;
    /// let refs = SettlementRefs {
    ///     merchant: Pubkey::new_unique(),
    ///     payment: Pubkey::new_unique(),
    ///     mint: MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     fee_receiver: Pubkey::new_unique(),
    ///     settlement_wallet: Pubkey::new_unique(),
    ///     assignee: None,
    /// };
    /// let ix = Payments::default().dispute_resolve(&Pubkey::new_unique(), &refs, &Pubkey::new_unique(), 6, 4);
    /// assert!(ix.is_ok());
    /// ```
    pub fn dispute_resolve(
        &self,
        arbiter: &Pubkey,
        refs: &SettlementRefs,
        payer: &Pubkey,
        to_merchant: u64,
        to_payer: u64,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::DisputeResolve {
                arbiter: *arbiter,
                settlement: self.settlement(refs),
                payer_destination: refs.mint.ata(payer),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::DisputeResolve {
                to_merchant,
                to_payer,
            },
        ))
    }

    fn hold_accounts(&self, compliance: &Pubkey, payment: &Pubkey) -> acc::ComplianceHold {
        acc::ComplianceHold {
            compliance_authority: *compliance,
            config: self.config(),
            payment: *payment,
            event_authority: self.event_authority(),
            program: self.program_id,
        }
    }

    /// Compliance holds an authorized payment.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// assert!(Payments::default().hold_place(&Pubkey::new_unique(), &Pubkey::new_unique(), [5; 32]).is_ok());
    /// ```
    pub fn hold_place(
        &self,
        compliance: &Pubkey,
        payment: &Pubkey,
        case_hash: [u8; 32],
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            self.hold_accounts(compliance, payment),
            ix::HoldPlace { case_hash },
        ))
    }

    /// Compliance releases its hold.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// assert!(Payments::default().hold_release(&Pubkey::new_unique(), &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn hold_release(
        &self,
        compliance: &Pubkey,
        payment: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(self.hold_accounts(compliance, payment), ix::HoldRelease {}))
    }

    /// Compliance rejects a held payment; the escrow returns to the payer.
    ///
    /// ```
    /// # use kassa_sdk::payments::{MintRef, Payments, ReleaseRefs};
    /// # use anchor_lang::prelude::Pubkey;
    /// let refs = ReleaseRefs {
    ///     payment: Pubkey::new_unique(),
    ///     mint: MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     payer: Pubkey::new_unique(),
    /// };
    /// assert!(Payments::default().hold_reject(&Pubkey::new_unique(), &refs, [6; 32]).is_ok());
    /// ```
    pub fn hold_reject(
        &self,
        compliance: &Pubkey,
        refs: &ReleaseRefs,
        case_hash: [u8; 32],
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::HoldReject {
                compliance_authority: *compliance,
                config: self.config(),
                release: self.release(refs),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::HoldReject { case_hash },
        ))
    }

    /// The merchant assigns up to `amount` of the payment's proceeds to the token account
    /// `assignee`.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let k = Pubkey::new_unique();
    /// let ix = Payments::default().receivable_assign(&k, &k, &Pubkey::new_unique(), &Pubkey::new_unique(), 7);
    /// assert!(ix.is_ok());
    /// ```
    pub fn receivable_assign(
        &self,
        authority: &Pubkey,
        merchant: &Pubkey,
        payment: &Pubkey,
        assignee: &Pubkey,
        amount: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        Ok(self.build(
            acc::ReceivableAssign {
                authority: *authority,
                config: self.config(),
                merchant: *merchant,
                payment: *payment,
                assignee: *assignee,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::ReceivableAssign { amount },
        ))
    }

    /// Anyone closes a settled payment; the rent goes to `rent_receiver`, which must be
    /// `Merchant::rent_receiver(payment.opened_by_operator)`: the authority, or the operator for
    /// invoices an operator opened.
    ///
    /// ```
    /// # use kassa_sdk::payments::Payments;
    /// # use anchor_lang::prelude::Pubkey;
    /// let k = Pubkey::new_unique();
    /// assert!(Payments::default().payment_close(&k, &k, &Pubkey::new_unique(), &k).is_ok());
    /// ```
    pub fn payment_close(
        &self,
        cranker: &Pubkey,
        merchant: &Pubkey,
        payment: &Pubkey,
        rent_receiver: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PaymentClose {
                cranker: *cranker,
                merchant: *merchant,
                payment: *payment,
                rent_receiver: *rent_receiver,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PaymentClose {},
        ))
    }
}
