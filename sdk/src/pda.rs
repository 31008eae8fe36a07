//! One function per PDA of the payments program. Each takes the program id so a deployment at
//! another address works; [`kassa_payments::ID`] is the default deployment.

use anchor_lang::prelude::Pubkey;
use kassa_payments::constants::*;

/// The singleton config.
pub fn config(program_id: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[CONFIG_SEED], program_id)
}

/// A merchant, by the id it registered with (its first authority).
pub fn merchant(program_id: &Pubkey, merchant_id: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[MERCHANT_SEED, merchant_id.as_ref()], program_id)
}

/// A payment, by merchant and zero-padded order id.
pub fn payment(program_id: &Pubkey, merchant: &Pubkey, order_id: &[u8; 32]) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[PAYMENT_SEED, merchant.as_ref(), order_id], program_id)
}

/// The escrow vault of a mint.
pub fn vault(program_id: &Pubkey, mint: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[VAULT_SEED, mint.as_ref()], program_id)
}

/// The PDA that owns every escrow vault.
pub fn escrow_authority(program_id: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[ESCROW_SEED], program_id)
}

/// The blocklist entry of a wallet (exists only while the wallet is blocked).
pub fn blocklist_entry(program_id: &Pubkey, wallet: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[BLOCKLIST_SEED, wallet.as_ref()], program_id)
}

/// The signer of `emit_cpi!` self-invocations.
pub fn event_authority(program_id: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[b"__event_authority"], program_id)
}

/// PDAs of the `kassa_convert` program.
pub mod convert {
    use anchor_lang::prelude::Pubkey;
    use kassa_convert::constants::*;

    /// Sorts a pair of mints into pool order (`mint_a < mint_b`).
    pub fn sorted(x: Pubkey, y: Pubkey) -> (Pubkey, Pubkey) {
        if x < y { (x, y) } else { (y, x) }
    }

    /// The pool of two mints (given in either order).
    pub fn pool(program_id: &Pubkey, x: &Pubkey, y: &Pubkey) -> (Pubkey, u8) {
        let (a, b) = sorted(*x, *y);
        Pubkey::find_program_address(&[POOL_SEED, a.as_ref(), b.as_ref()], program_id)
    }

    /// A pool's vault of `mint`.
    pub fn vault(program_id: &Pubkey, pool: &Pubkey, mint: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[VAULT_SEED, pool.as_ref(), mint.as_ref()], program_id)
    }

    /// A pool's LP mint.
    pub fn lp_mint(program_id: &Pubkey, pool: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[LP_MINT_SEED, pool.as_ref()], program_id)
    }
}

/// PDAs of the `kassa_credit` program.
pub mod credit {
    use anchor_lang::prelude::Pubkey;
    use kassa_credit::{constants::*, state::*};

    /// The credit pool of a stablecoin.
    pub fn pool(program_id: &Pubkey, mint: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[POOL_SEED, mint.as_ref()], program_id)
    }

    /// The pool's vault.
    pub fn vault(program_id: &Pubkey, pool: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[VAULT_SEED, pool.as_ref()], program_id)
    }

    /// The senior tranche's share mint.
    pub fn senior_mint(program_id: &Pubkey, pool: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[SENIOR_SEED, pool.as_ref()], program_id)
    }

    /// The junior tranche's share mint.
    pub fn junior_mint(program_id: &Pubkey, pool: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[JUNIOR_SEED, pool.as_ref()], program_id)
    }

    /// A lender's allowlist entry.
    pub fn allow(program_id: &Pubkey, pool: &Pubkey, lender: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[ALLOW_SEED, pool.as_ref(), lender.as_ref()], program_id)
    }

    /// A borrower's credit line in a pool.
    pub fn line(program_id: &Pubkey, pool: &Pubkey, borrower: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[LINE_SEED, pool.as_ref(), borrower.as_ref()], program_id)
    }

    /// The advance on a payment (one per payment).
    pub fn advance(program_id: &Pubkey, payment: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[ADVANCE_SEED, payment.as_ref()], program_id)
    }

    /// The escrow holding a tranche's shares queued for redemption.
    pub fn share_escrow(program_id: &Pubkey, pool: &Pubkey, tranche: Tranche) -> (Pubkey, u8) {
        Pubkey::find_program_address(
            &[SHARE_ESCROW_SEED, pool.as_ref(), &[tranche.seed()]],
            program_id,
        )
    }

    /// A lender's redemption request in a tranche.
    pub fn redemption(
        program_id: &Pubkey,
        pool: &Pubkey,
        tranche: Tranche,
        lender: &Pubkey,
    ) -> (Pubkey, u8) {
        Pubkey::find_program_address(
            &[
                REDEMPTION_SEED,
                pool.as_ref(),
                &[tranche.seed()],
                lender.as_ref(),
            ],
            program_id,
        )
    }

    /// The record of epoch `epoch_id` for a tranche.
    pub fn epoch(
        program_id: &Pubkey,
        pool: &Pubkey,
        tranche: Tranche,
        epoch_id: u64,
    ) -> (Pubkey, u8) {
        Pubkey::find_program_address(
            &[
                EPOCH_SEED,
                pool.as_ref(),
                &[tranche.seed()],
                &epoch_id.to_le_bytes(),
            ],
            program_id,
        )
    }

    /// The token account an advanced payment's captures pay first.
    pub fn advance_vault(program_id: &Pubkey, payment: &Pubkey) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[ADVANCE_VAULT_SEED, payment.as_ref()], program_id)
    }
}
