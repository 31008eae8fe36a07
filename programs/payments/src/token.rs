//! Token movements into and out of escrow, for SPL Token and Token-2022 alike.

use crate::{constants::ESCROW_SEED, error::PaymentsError};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, TransferChecked};

/// Refuses mints whose extensions would let someone other than the escrow move or freeze
/// escrowed funds, or that would make every transfer call arbitrary code.
pub fn require_supported_mint(mint: &AccountInfo<'_>) -> Result<()> {
    if let Some(extension) = kassa_hook_interface::unsafe_mint_extension(mint)? {
        msg!("mint extension {:?} is not supported in escrow", extension);
        return err!(PaymentsError::UnsupportedMintExtension);
    }
    Ok(())
}

/// Moves `amount` from a token account its owner signed for.
pub fn transfer_from_signer<'info>(
    token_program: &AccountInfo<'info>,
    from: &AccountInfo<'info>,
    mint: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    amount: u64,
    decimals: u8,
) -> Result<()> {
    let accounts = TransferChecked {
        from: from.clone(),
        mint: mint.clone(),
        to: to.clone(),
        authority: authority.clone(),
    };
    token_interface::transfer_checked(
        CpiContext::new(token_program.key(), accounts),
        amount,
        decimals,
    )
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
        if amount == 0 {
            return Ok(());
        }
        let seeds: &[&[u8]] = &[ESCROW_SEED, &[self.escrow_bump]];
        let signer = &[seeds];
        let accounts = TransferChecked {
            from: self.vault.clone(),
            mint: self.mint.clone(),
            to: to.clone(),
            authority: self.escrow_authority.clone(),
        };
        token_interface::transfer_checked(
            CpiContext::new_with_signer(self.token_program.key(), accounts, signer),
            amount,
            self.decimals,
        )
    }
}
