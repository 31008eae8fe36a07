//! Creating a program's PDAs whatever lamports they already hold.
//!
//! Anyone can send lamports to an address, including a PDA the program will create later (the
//! next invoice of a merchant, a wallet's blocklist entry, next epoch's record). Anchor 1.2's
//! `init` then switches to the system program's `CreateAccountAllowPrefund`, which a runtime
//! without that instruction refuses, and the account could never be created. Every Kassa PDA
//! is created here instead: a new address with `create_account`; a pre-funded one by topping
//! it up to rent exemption, then `allocate` and `assign`, both signed with the PDA's seeds.

use anchor_lang::{
    error::ErrorCode,
    prelude::*,
    system_program::{self, Allocate, Assign, CreateAccount, Transfer},
    AccountSerialize,
};
use anchor_spl::{
    token::TokenAccount as SplTokenAccount,
    token_2022::spl_token_2022::{
        self,
        extension::{BaseStateWithExtensions, ExtensionType, StateWithExtensions},
        state::{Account as Token2022Account, Mint as Token2022Mint},
    },
    token_interface::{self, InitializeAccount3, InitializeMint2},
};

/// Who pays for new accounts, and the system program that creates them.
#[derive(Clone, Copy)]
pub struct Creator<'a, 'info> {
    pub payer: &'a AccountInfo<'info>,
    pub system_program: &'a AccountInfo<'info>,
}

impl<'info> Creator<'_, 'info> {
    /// Creates `account`, the PDA of `seeds` (bump included), with `space` bytes owned by
    /// `owner`, whether or not someone sent it lamports first. An account that already has
    /// data or another owner is refused (`AccountNotSystemOwned`): nothing is ever overwritten.
    pub fn create_pda(
        &self,
        account: &AccountInfo<'info>,
        space: usize,
        owner: &Pubkey,
        seeds: &[&[u8]],
    ) -> Result<()> {
        if *account.owner != anchor_lang::solana_program::system_program::ID
            || !account.data_is_empty()
        {
            return Err(error!(ErrorCode::AccountNotSystemOwned)
                .with_account_name(account.key().to_string()));
        }
        require_keys_neq!(
            self.payer.key(),
            account.key(),
            ErrorCode::TryingToInitPayerAsProgramAccount
        );
        let rent = Rent::get()?.minimum_balance(space);
        let space_u64 = u64::try_from(space).map_err(|_| crate::math::overflow())?;
        let held = account.lamports();
        let system = self.system_program.key();
        if held == 0 {
            return system_program::create_account(
                CpiContext::new(
                    system,
                    CreateAccount {
                        from: self.payer.clone(),
                        to: account.clone(),
                    },
                )
                .with_signer(&[seeds]),
                rent,
                space_u64,
                owner,
            );
        }
        // Pre-funded: top up to rent exemption, then allocate and assign as the PDA.
        let missing = rent.saturating_sub(held);
        if missing > 0 {
            system_program::transfer(
                CpiContext::new(
                    system,
                    Transfer {
                        from: self.payer.clone(),
                        to: account.clone(),
                    },
                ),
                missing,
            )?;
        }
        system_program::allocate(
            CpiContext::new(
                system,
                Allocate {
                    account_to_allocate: account.clone(),
                },
            )
            .with_signer(&[seeds]),
            space_u64,
        )?;
        system_program::assign(
            CpiContext::new(
                system,
                Assign {
                    account_to_assign: account.clone(),
                },
            )
            .with_signer(&[seeds]),
            owner,
        )
    }

    /// Creates a program account of type `T` at the PDA of `seeds` and writes `value` into it
    /// (discriminator, then Borsh), `space` being the account's whole size.
    pub fn create_state<T: AccountSerialize + Owner>(
        &self,
        account: &AccountInfo<'info>,
        space: usize,
        seeds: &[&[u8]],
        value: &T,
    ) -> Result<()> {
        self.create_pda(account, space, &T::owner(), seeds)?;
        write_state(account, value)
    }

    /// Creates the token account of `mint` at the PDA of `seeds`, owned by `authority`, sized
    /// for the extensions the mint requires of its accounts.
    pub fn create_token_account(
        &self,
        account: &AccountInfo<'info>,
        seeds: &[&[u8]],
        mint: &AccountInfo<'info>,
        authority: &AccountInfo<'info>,
        token_program: &AccountInfo<'info>,
    ) -> Result<()> {
        let space = if *mint.owner == spl_token_2022::ID {
            let data = mint.try_borrow_data()?;
            let state = StateWithExtensions::<Token2022Mint>::unpack(&data)?;
            let required =
                ExtensionType::get_required_init_account_extensions(&state.get_extension_types()?);
            ExtensionType::try_calculate_account_len::<Token2022Account>(&required)?
        } else {
            SplTokenAccount::LEN
        };
        self.create_pda(account, space, token_program.key, seeds)?;
        token_interface::initialize_account3(CpiContext::new(
            token_program.key(),
            InitializeAccount3 {
                account: account.clone(),
                mint: mint.clone(),
                authority: authority.clone(),
            },
        ))
    }

    /// Creates a mint without extensions at the PDA of `seeds`, with `authority` as its mint
    /// authority and no freeze authority.
    pub fn create_mint(
        &self,
        mint: &AccountInfo<'info>,
        seeds: &[&[u8]],
        decimals: u8,
        authority: &Pubkey,
        token_program: &AccountInfo<'info>,
    ) -> Result<()> {
        let space = ExtensionType::try_calculate_account_len::<Token2022Mint>(&[])?;
        self.create_pda(mint, space, token_program.key, seeds)?;
        token_interface::initialize_mint2(
            CpiContext::new(token_program.key(), InitializeMint2 { mint: mint.clone() }),
            decimals,
            authority,
            None,
        )
    }
}

/// Writes `value` over the data of a program account (discriminator, then Borsh).
pub fn write_state<T: AccountSerialize>(account: &AccountInfo<'_>, value: &T) -> Result<()> {
    let mut data = account.try_borrow_mut_data()?;
    let mut out: &mut [u8] = &mut data;
    value.try_serialize(&mut out)
}
