//! The facilitator's checks of an `exact` payment on Solana, before anything is signed: the
//! rules of `specs/schemes/exact/scheme_exact_svm.md` ("Facilitator Verification Rules"), in
//! the order the reference facilitator applies them, with its reasons. Two rules are stricter
//! than the reference code and as the specification's text says: the fee payer may appear in
//! no instruction at all, and a message with address lookup tables is refused (nothing in the
//! layout needs one). The compute budget is capped so that a payment cannot spend the fee
//! payer's lamports on priority fees.

use kassa_sdk::x402::{
    exact::{COMPUTE_BUDGET_PROGRAM, LIGHTHOUSE_PROGRAM, MEMO_PROGRAM, TRANSFER_CHECKED},
    PaymentRequirements,
};
use solana_sdk::{pubkey::Pubkey, transaction::VersionedTransaction};
use std::str::FromStr;

/// The specification's reasons this module answers.
pub mod reason {
    pub const UNSUPPORTED_SCHEME: &str = "invalid_exact_svm_unsupported_scheme";
    pub const NETWORK_MISMATCH: &str = "invalid_exact_svm_network_mismatch";
    pub const MISSING_FEE_PAYER: &str = "invalid_exact_svm_payload_missing_fee_payer";
    pub const FEE_PAYER_NOT_MANAGED: &str =
        "invalid_exact_svm_fee_payer_not_managed_by_facilitator";
    pub const FEE_PAYER_MISMATCH: &str = "invalid_exact_svm_fee_payer_mismatch";
    pub const UNDECODABLE: &str = "invalid_exact_svm_payload_transaction_could_not_be_decoded";
    pub const SIGNATURE_INVALID: &str = "invalid_exact_svm_payload_signature_invalid";
    pub const EXCESSIVE_SIGNERS: &str = "invalid_exact_svm_payload_excessive_signers";
    pub const LOOKUP_TABLES: &str = "invalid_exact_svm_smart_wallet_alt_resolution_not_available";
    pub const INSTRUCTIONS_LENGTH: &str =
        "invalid_exact_svm_payload_transaction_instructions_length";
    pub const COMPUTE_LIMIT: &str =
        "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction";
    pub const COMPUTE_LIMIT_TOO_HIGH: &str =
        "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction_too_high";
    pub const COMPUTE_PRICE: &str =
        "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction";
    pub const COMPUTE_PRICE_TOO_HIGH: &str =
        "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high";
    pub const NO_TRANSFER: &str = "invalid_exact_svm_payload_no_transfer_instruction";
    pub const FEE_PAYER_TRANSFERRING: &str =
        "invalid_exact_svm_payload_transaction_fee_payer_transferring_funds";
    pub const FEE_PAYER_IN_INSTRUCTION: &str =
        "invalid_exact_svm_payload_transaction_fee_payer_included_in_instruction_accounts";
    pub const MINT_MISMATCH: &str = "invalid_exact_svm_payload_mint_mismatch";
    pub const RECIPIENT_MISMATCH: &str = "invalid_exact_svm_payload_recipient_mismatch";
    pub const AMOUNT_MISMATCH: &str = "invalid_exact_svm_payload_amount_mismatch";
    pub const UNKNOWN_INSTRUCTION: [&str; 4] = [
        "invalid_exact_svm_payload_unknown_fourth_instruction",
        "invalid_exact_svm_payload_unknown_fifth_instruction",
        "invalid_exact_svm_payload_unknown_sixth_instruction",
        "invalid_exact_svm_payload_unknown_seventh_instruction",
    ];
    pub const MEMO_COUNT: &str = "invalid_exact_svm_payload_memo_count";
    pub const MEMO_MISMATCH: &str = "invalid_exact_svm_payload_memo_mismatch";
    pub const SIMULATION_FAILED: &str = "invalid_exact_svm_transaction_simulation_failed";
    pub const TRANSACTION_FAILED: &str = "invalid_exact_svm_transaction_failed";
    pub const DUPLICATE: &str = "duplicate_settlement";
    pub const PENDING: &str = "settlement_pending";
    pub const INVALID_VERSION: &str = "invalid_x402_version";
    pub const INVALID_REQUIREMENTS: &str = "invalid_payment_requirements";
    /// Kassa's own: the payer's screening (lists, blocklist, exposure) refused it.
    pub const PAYER_REFUSED: &str = "payer_refused_by_screening";
    pub const UNEXPECTED_VERIFY: &str = "unexpected_verify_error";
    pub const INVALID_PAYLOAD: &str = "invalid_payload";
    pub const INSUFFICIENT_FUNDS: &str = "insufficient_funds";
    /// Kassa's `kassa-escrow` scheme: the call names no session of this merchant.
    pub const SESSION_UNKNOWN: &str = "kassa_escrow_session_unknown";
    /// Kassa's `kassa-escrow` scheme: the session is not open (offered, closed or expired).
    pub const SESSION_CLOSED: &str = "kassa_escrow_session_closed";
    pub const UNEXPECTED_SETTLE: &str = "unexpected_settle_error";
}

/// The compute units a payment may ask for (clients ask for 20,000; a transfer uses less).
pub const MAX_COMPUTE_UNITS: u32 = 40_000;
/// The priority price a payment may offer (the specification's cap: 5 lamports per unit).
pub const MAX_COMPUTE_UNIT_PRICE: u64 = 5_000_000;

/// A refusal: the specification's reason and what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

pub fn refuse(reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        message: message.into(),
    }
}

/// The transfer a payment makes, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The transfer's authority: the paying wallet.
    pub payer: Pubkey,
    pub source: Pubkey,
    pub destination: Pubkey,
    pub mint: Pubkey,
    pub amount: u64,
}

/// Checks `tx` pays exactly `req` and leaves `fee_payer` nothing to do but pay the fee.
pub fn check(
    tx: &VersionedTransaction,
    req: &PaymentRequirements,
    fee_payer: &Pubkey,
) -> Result<Transfer, Refusal> {
    let message = &tx.message;
    let keys = message.static_account_keys();
    if keys.first() != Some(fee_payer) {
        return Err(refuse(
            reason::FEE_PAYER_MISMATCH,
            format!("the transaction's fee payer is not the facilitator's {fee_payer}"),
        ));
    }
    if message
        .address_table_lookups()
        .is_some_and(|l| !l.is_empty())
    {
        return Err(refuse(
            reason::LOOKUP_TABLES,
            "the transaction uses address lookup tables",
        ));
    }
    let signers = usize::from(message.header().num_required_signatures);
    if signers != 2 || tx.signatures.len() != signers {
        return Err(refuse(
            reason::EXCESSIVE_SIGNERS,
            format!("the transaction needs {signers} signatures; a payment has two (the fee payer and the payer)"),
        ));
    }
    let bytes = message.serialize();
    if !tx.signatures[1].verify(keys[1].as_ref(), &bytes) {
        return Err(refuse(
            reason::SIGNATURE_INVALID,
            format!("the signature of {} does not verify", keys[1]),
        ));
    }
    let ixs = message.instructions();
    if !(3..=7).contains(&ixs.len()) {
        return Err(refuse(
            reason::INSTRUCTIONS_LENGTH,
            format!("{} instructions; a payment has 3 to 7", ixs.len()),
        ));
    }
    let program = |i: usize| keys.get(usize::from(ixs[i].program_id_index)).copied();
    // The fee payer signs for the fee alone: no instruction may name it.
    for (i, ix) in ixs.iter().enumerate() {
        if ix.program_id_index == 0 || ix.accounts.contains(&0) {
            return Err(refuse(
                reason::FEE_PAYER_IN_INSTRUCTION,
                format!("instruction {} names the fee payer", i + 1),
            ));
        }
    }
    let limit = &ixs[0];
    if program(0) != Some(COMPUTE_BUDGET_PROGRAM) || limit.data.len() != 5 || limit.data[0] != 2 {
        return Err(refuse(
            reason::COMPUTE_LIMIT,
            "the first instruction is not SetComputeUnitLimit",
        ));
    }
    let units = u32::from_le_bytes(limit.data[1..5].try_into().expect("four bytes"));
    if units > MAX_COMPUTE_UNITS {
        return Err(refuse(
            reason::COMPUTE_LIMIT_TOO_HIGH,
            format!("{units} compute units; at most {MAX_COMPUTE_UNITS}"),
        ));
    }
    let price = &ixs[1];
    if program(1) != Some(COMPUTE_BUDGET_PROGRAM) || price.data.len() != 9 || price.data[0] != 3 {
        return Err(refuse(
            reason::COMPUTE_PRICE,
            "the second instruction is not SetComputeUnitPrice",
        ));
    }
    let micro = u64::from_le_bytes(price.data[1..9].try_into().expect("eight bytes"));
    if micro > MAX_COMPUTE_UNIT_PRICE {
        return Err(refuse(
            reason::COMPUTE_PRICE_TOO_HIGH,
            format!("{micro} micro-lamports per unit; at most {MAX_COMPUTE_UNIT_PRICE}"),
        ));
    }
    let transfer = &ixs[2];
    let token_program = program(2).unwrap_or_default();
    if (token_program != anchor_spl::token::ID && token_program != anchor_spl::token_2022::ID)
        || transfer.data.len() != 10
        || transfer.data[0] != TRANSFER_CHECKED
        || transfer.accounts.len() != 4
    {
        return Err(refuse(
            reason::NO_TRANSFER,
            "the third instruction is not a TransferChecked of SPL Token or Token-2022",
        ));
    }
    let account = |n: usize| keys.get(usize::from(transfer.accounts[n])).copied();
    let (Some(source), Some(mint), Some(destination), Some(authority)) =
        (account(0), account(1), account(2), account(3))
    else {
        return Err(refuse(
            reason::UNDECODABLE,
            "an account index is out of range",
        ));
    };
    if authority == *fee_payer {
        return Err(refuse(
            reason::FEE_PAYER_TRANSFERRING,
            "the fee payer is the transfer's authority",
        ));
    }
    if authority != keys[1] {
        return Err(refuse(
            reason::SIGNATURE_INVALID,
            "the transfer's authority is not the transaction's signer",
        ));
    }
    let asset = Pubkey::from_str(&req.asset).map_err(|_| {
        refuse(
            reason::INVALID_REQUIREMENTS,
            "the asset is not a mint address",
        )
    })?;
    let pay_to = Pubkey::from_str(&req.pay_to)
        .map_err(|_| refuse(reason::INVALID_REQUIREMENTS, "payTo is not an address"))?;
    let required = req.amount_u64().ok_or_else(|| {
        refuse(
            reason::INVALID_REQUIREMENTS,
            "the amount is not a positive integer",
        )
    })?;
    if mint != asset {
        return Err(refuse(
            reason::MINT_MISMATCH,
            format!("the transfer moves {mint}, not {asset}"),
        ));
    }
    let expected = anchor_spl::associated_token::get_associated_token_address_with_program_id(
        &pay_to,
        &asset,
        &token_program,
    );
    if destination != expected {
        return Err(refuse(
            reason::RECIPIENT_MISMATCH,
            format!("the transfer pays {destination}, not {pay_to}'s token account {expected}"),
        ));
    }
    let amount = u64::from_le_bytes(transfer.data[1..9].try_into().expect("eight bytes"));
    if amount != required {
        return Err(refuse(
            reason::AMOUNT_MISMATCH,
            format!("the transfer moves {amount}, the price is {required}"),
        ));
    }
    let mut memos = Vec::new();
    for (i, ix) in ixs.iter().enumerate().skip(3) {
        match program(i) {
            Some(p) if p == MEMO_PROGRAM => memos.push(&ix.data),
            Some(p) if p == LIGHTHOUSE_PROGRAM => {}
            other => {
                return Err(refuse(
                    reason::UNKNOWN_INSTRUCTION[i - 3],
                    format!(
                        "instruction {} calls {}, which a payment does not",
                        i + 1,
                        other.map(|p| p.to_string()).unwrap_or_default()
                    ),
                ))
            }
        }
    }
    if let Some(memo) = req.extra_str("memo") {
        if memos.len() != 1 {
            return Err(refuse(
                reason::MEMO_COUNT,
                format!("{} memos; the payment names one", memos.len()),
            ));
        }
        if memos[0].as_slice() != memo.as_bytes() {
            return Err(refuse(
                reason::MEMO_MISMATCH,
                "the memo is not the one asked for",
            ));
        }
    }
    Ok(Transfer {
        payer: authority,
        source,
        destination,
        mint,
        amount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kassa_sdk::{
        payments::MintRef,
        x402::exact::{self as build, Transfer as Pay},
    };
    use solana_sdk::{
        hash::Hash,
        instruction::{AccountMeta, Instruction},
        message::{v0, VersionedMessage},
        signature::{Keypair, Signature},
        signer::Signer,
    };

    struct Case {
        payer: Keypair,
        fee_payer: Pubkey,
        pay: Pay,
        req: PaymentRequirements,
    }

    fn case() -> Case {
        let payer = Keypair::new();
        let fee_payer = Pubkey::new_unique();
        let mint = MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap();
        let pay_to = Pubkey::new_unique();
        let pay = Pay {
            mint,
            decimals: 6,
            amount: 5_000,
            pay_to,
            fee_payer,
            memo: b"order-1".to_vec(),
        };
        let req = PaymentRequirements {
            scheme: "exact".into(),
            network: kassa_sdk::x402::SOLANA_DEVNET.into(),
            amount: "5000".into(),
            asset: mint.mint.to_string(),
            pay_to: pay_to.to_string(),
            max_timeout_seconds: 60,
            extra: serde_json::from_value(serde_json::json!({
                "feePayer": fee_payer.to_string(), "memo": "order-1"
            }))
            .unwrap(),
        };
        Case {
            payer,
            fee_payer,
            pay,
            req,
        }
    }

    /// The payment's instructions, changed by `edit`, compiled and signed by the payer.
    fn signed(c: &Case, edit: impl FnOnce(&mut Vec<Instruction>)) -> VersionedTransaction {
        let mut ixs = build::instructions(&c.payer.pubkey(), &c.pay).unwrap();
        edit(&mut ixs);
        let m = VersionedMessage::V0(
            v0::Message::try_compile(&c.fee_payer, &ixs, &[], Hash::new_unique()).unwrap(),
        );
        let n = usize::from(m.header().num_required_signatures);
        let mut signatures = vec![Signature::default(); n];
        for (i, k) in m.static_account_keys()[..n].iter().enumerate() {
            if *k == c.payer.pubkey() {
                signatures[i] = c.payer.sign_message(&m.serialize());
            }
        }
        VersionedTransaction {
            signatures,
            message: m,
        }
    }

    fn reason_of(c: &Case, tx: &VersionedTransaction) -> &'static str {
        check(tx, &c.req, &c.fee_payer).unwrap_err().reason
    }

    #[test]
    fn the_clients_transaction_passes_and_names_its_payer() {
        let c = case();
        let tx = signed(&c, |_| {});
        let t = check(&tx, &c.req, &c.fee_payer).unwrap();
        assert_eq!(t.payer, c.payer.pubkey());
        assert_eq!(t.amount, 5_000);
        assert_eq!(t.destination, c.pay.mint.ata(&c.pay.pay_to));
        // A wallet's Lighthouse assertion after the transfer is allowed.
        let tx = signed(&c, |ixs| {
            ixs.insert(
                3,
                Instruction::new_with_bytes(LIGHTHOUSE_PROGRAM, &[1], vec![]),
            )
        });
        assert!(check(&tx, &c.req, &c.fee_payer).is_ok());
    }

    #[test]
    fn every_tampering_is_refused_with_the_specifications_reason() {
        let c = case();
        let other = Pubkey::new_unique();
        type Edit = Box<dyn FnOnce(&mut Vec<Instruction>)>;
        let expect = |edit: Edit, want: &str| {
            let tx = signed(&c, edit);
            assert_eq!(reason_of(&c, &tx), want);
        };
        expect(
            Box::new(move |ixs| ixs[2].accounts[2].pubkey = other),
            reason::RECIPIENT_MISMATCH,
        );
        expect(
            Box::new(move |ixs| ixs[2].accounts[1].pubkey = other),
            reason::MINT_MISMATCH,
        );
        expect(
            Box::new(|ixs| ixs[2].data[1..9].copy_from_slice(&4_999u64.to_le_bytes())),
            reason::AMOUNT_MISMATCH,
        );
        expect(
            Box::new(move |ixs| {
                ixs.push(solana_system_interface::instruction::transfer(
                    &Pubkey::new_unique(),
                    &other,
                    1,
                ))
            }),
            reason::EXCESSIVE_SIGNERS,
        );
        let payer = c.payer.pubkey();
        expect(
            Box::new(move |ixs| {
                ixs.insert(
                    3,
                    Instruction::new_with_bytes(other, &[0], vec![AccountMeta::new(payer, false)]),
                )
            }),
            reason::UNKNOWN_INSTRUCTION[0],
        );
        let fee_payer = c.fee_payer;
        expect(
            Box::new(move |ixs| ixs[3].accounts.push(AccountMeta::new(fee_payer, false))),
            reason::FEE_PAYER_IN_INSTRUCTION,
        );
        expect(
            Box::new(|ixs| ixs[1].data[1..9].copy_from_slice(&5_000_001u64.to_le_bytes())),
            reason::COMPUTE_PRICE_TOO_HIGH,
        );
        expect(
            Box::new(|ixs| ixs[0].data[1..5].copy_from_slice(&1_400_000u32.to_le_bytes())),
            reason::COMPUTE_LIMIT_TOO_HIGH,
        );
        expect(Box::new(|ixs| ixs.swap(0, 1)), reason::COMPUTE_LIMIT);
        expect(
            Box::new(|ixs| {
                ixs.drain(0..2);
            }),
            reason::INSTRUCTIONS_LENGTH,
        );
        expect(
            Box::new(|ixs| ixs[3].data = b"order-2".to_vec()),
            reason::MEMO_MISMATCH,
        );
        expect(
            Box::new(|ixs| {
                ixs.pop();
            }),
            reason::MEMO_COUNT,
        );

        // A fee payer that is not the facilitator: the payer pays its own fee.
        let mut mine = c.pay.clone();
        mine.fee_payer = c.payer.pubkey();
        let tx = build::transaction(&c.payer, &mine, Hash::new_unique()).unwrap();
        assert_eq!(reason_of(&c, &tx), reason::FEE_PAYER_MISMATCH);
        // The fee payer as the transfer's authority.
        let mut ixs = build::instructions(&c.fee_payer, &c.pay).unwrap();
        ixs.truncate(4);
        let m = VersionedMessage::V0(
            v0::Message::try_compile(&c.fee_payer, &ixs, &[], Hash::new_unique()).unwrap(),
        );
        let tx = VersionedTransaction {
            signatures: vec![Signature::default(); 1],
            message: m,
        };
        assert_eq!(reason_of(&c, &tx), reason::EXCESSIVE_SIGNERS);
        // A signature that is not the payer's over this message.
        let mut tx = signed(&c, |_| {});
        tx.signatures[1] = Keypair::new().sign_message(b"another message");
        assert_eq!(reason_of(&c, &tx), reason::SIGNATURE_INVALID);
    }
}
