//! The escrow's own token rules: which mints it accepts and how it pays out (signed by the
//! escrow PDA). The moves themselves are `kassa_common::token`'s.

use crate::{constants::ESCROW_SEED, error::PaymentsError};
use anchor_lang::prelude::*;
use kassa_common::{
    mint_policy::{highest_transfer_fee_bps, unsafe_mint_extension, MAX_TRANSFER_FEE_BPS},
    token::TokenMint,
};

/// Refuses mints whose extensions would let someone other than the escrow move or freeze
/// escrowed funds, make every transfer call arbitrary code or let the mint be recreated, and
/// mints charging (or scheduled to charge) a transfer fee above the cap. Called when a vault
/// opens or a merchant picks a mint, and again at every payment.
pub fn require_supported_mint(mint: &AccountInfo<'_>) -> Result<()> {
    if let Some(extension) = unsafe_mint_extension(mint)? {
        msg!("mint extension {:?} is not supported in escrow", extension);
        return err!(PaymentsError::UnsupportedMintExtension);
    }
    let fee = highest_transfer_fee_bps(mint)?;
    if fee > MAX_TRANSFER_FEE_BPS {
        msg!(
            "transfer fee of {} bps is above the cap of {} bps",
            fee,
            MAX_TRANSFER_FEE_BPS
        );
        return err!(PaymentsError::TransferFeeAboveCap);
    }
    Ok(())
}

/// Accounts needed to pay out of an escrow vault.
pub struct EscrowOut<'a, 'info> {
    pub token_program: &'a AccountInfo<'info>,
    pub vault: &'a AccountInfo<'info>,
    pub mint: &'a AccountInfo<'info>,
    pub escrow_authority: &'a AccountInfo<'info>,
    pub escrow_bump: u8,
    pub decimals: u8,
}

impl<'info> EscrowOut<'_, 'info> {
    /// Pays `amount` out of the vault to `to`, signed by the escrow PDA. Zero is a no-op.
    pub fn pay(&self, to: &AccountInfo<'info>, amount: u64) -> Result<()> {
        let token = TokenMint {
            token_program: self.token_program,
            mint: self.mint,
            decimals: self.decimals,
        };
        token.transfer_signed(
            self.vault,
            to,
            self.escrow_authority,
            &[ESCROW_SEED, &[self.escrow_bump]],
            amount,
        )
    }
}
