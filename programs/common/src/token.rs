//! Token moves for SPL Token and Token-2022 alike, always through `transfer_checked` so the
//! mint and its decimals are verified by the token program. A move of zero is a no-op, so a
//! caller never needs its own guard.

use crate::math::SafeMath;
use anchor_lang::prelude::*;
use anchor_spl::{
    token_2022::spl_token_2022::{self, extension::StateWithExtensions},
    token_interface::{self, Burn, MintTo, TransferChecked},
};

/// A token program and mint, with the mint's decimals, that every move names.
#[derive(Clone, Copy)]
pub struct TokenMint<'a, 'info> {
    pub token_program: &'a AccountInfo<'info>,
    pub mint: &'a AccountInfo<'info>,
    pub decimals: u8,
}

impl<'info> TokenMint<'_, 'info> {
    /// Moves `amount` from `from`, whose owner (`authority`) signed the transaction.
    pub fn transfer_from_signer(
        &self,
        from: &AccountInfo<'info>,
        to: &AccountInfo<'info>,
        authority: &AccountInfo<'info>,
        amount: u64,
    ) -> Result<()> {
        self.transfer(from, to, authority, &[], amount)
    }

    /// Moves `amount` out of an account owned by a PDA of the calling program, signed with the
    /// PDA's `seeds` (bump included).
    pub fn transfer_signed(
        &self,
        from: &AccountInfo<'info>,
        to: &AccountInfo<'info>,
        authority: &AccountInfo<'info>,
        seeds: &[&[u8]],
        amount: u64,
    ) -> Result<()> {
        self.transfer(from, to, authority, &[seeds], amount)
    }

    fn transfer(
        &self,
        from: &AccountInfo<'info>,
        to: &AccountInfo<'info>,
        authority: &AccountInfo<'info>,
        signer: &[&[&[u8]]],
        amount: u64,
    ) -> Result<()> {
        if amount == 0 {
            return Ok(());
        }
        let accounts = TransferChecked {
            from: from.clone(),
            mint: self.mint.clone(),
            to: to.clone(),
            authority: authority.clone(),
        };
        token_interface::transfer_checked(
            CpiContext::new_with_signer(self.token_program.key(), accounts, signer),
            amount,
            self.decimals,
        )
    }

    /// Closes an empty token account owned by a PDA of the calling program (signed with the
    /// PDA's `seeds`), sending its rent to `rent_receiver`.
    pub fn close_signed(
        &self,
        account: &AccountInfo<'info>,
        rent_receiver: &AccountInfo<'info>,
        authority: &AccountInfo<'info>,
        seeds: &[&[u8]],
    ) -> Result<()> {
        token_interface::close_account(CpiContext::new_with_signer(
            self.token_program.key(),
            token_interface::CloseAccount {
                account: account.clone(),
                destination: rent_receiver.clone(),
                authority: authority.clone(),
            },
            &[seeds],
        ))
    }

    /// Moves `amount` from a signer's account and returns what `to` actually received (less
    /// than `amount` when the mint charges a transfer fee).
    pub fn transfer_in_measured(
        &self,
        from: &AccountInfo<'info>,
        to: &AccountInfo<'info>,
        authority: &AccountInfo<'info>,
        amount: u64,
    ) -> Result<u64> {
        let before = balance(to)?;
        self.transfer_from_signer(from, to, authority, amount)?;
        balance(to)?.safe_sub(before)
    }

    /// Mints `amount` of this mint (a share token whose authority is a PDA) to `to`.
    pub fn mint_signed(
        &self,
        to: &AccountInfo<'info>,
        authority: &AccountInfo<'info>,
        seeds: &[&[u8]],
        amount: u64,
    ) -> Result<()> {
        if amount == 0 {
            return Ok(());
        }
        let accounts = MintTo {
            mint: self.mint.clone(),
            to: to.clone(),
            authority: authority.clone(),
        };
        token_interface::mint_to(
            CpiContext::new_with_signer(self.token_program.key(), accounts, &[seeds]),
            amount,
        )
    }

    /// Burns `amount` from `from`, an account whose owner is a PDA signing with `seeds`.
    pub fn burn_signed(
        &self,
        from: &AccountInfo<'info>,
        authority: &AccountInfo<'info>,
        seeds: &[&[u8]],
        amount: u64,
    ) -> Result<()> {
        if amount == 0 {
            return Ok(());
        }
        let accounts = Burn {
            mint: self.mint.clone(),
            from: from.clone(),
            authority: authority.clone(),
        };
        token_interface::burn(
            CpiContext::new_with_signer(self.token_program.key(), accounts, &[seeds]),
            amount,
        )
    }
}

/// The balance of a token account of either token program, read fresh from its data (after
/// a CPI, not from a deserialized copy that may be stale).
pub fn balance(account: &AccountInfo<'_>) -> Result<u64> {
    let data = account.try_borrow_data()?;
    Ok(
        StateWithExtensions::<spl_token_2022::state::Account>::unpack(&data)?
            .base
            .amount,
    )
}
