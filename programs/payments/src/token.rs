//! The escrow's own token rules: which mints it accepts and how it pays out (signed by the
//! escrow PDA). The moves themselves are `kassa_common::token`'s.

use crate::{constants::ESCROW_SEED, error::PaymentsError};
use anchor_lang::prelude::*;
use kassa_common::{mint_policy::unsafe_mint_extension, token::TokenMint};

/// Refuses mints whose extensions would let someone other than the escrow move or freeze
/// escrowed funds, or that would make every transfer call arbitrary code.
pub fn require_supported_mint(mint: &AccountInfo<'_>) -> Result<()> {
    if let Some(extension) = unsafe_mint_extension(mint)? {
        msg!("mint extension {:?} is not supported in escrow", extension);
        return err!(PaymentsError::UnsupportedMintExtension);
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
