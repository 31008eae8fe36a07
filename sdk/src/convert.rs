//! Instruction builders for `kassa_convert` (StableSwap pools and their conversion hook).

use crate::{SdkError, payments::MintRef, pda};
use anchor_lang::{
    InstructionData, ToAccountMetas,
    prelude::Pubkey,
    solana_program::instruction::{AccountMeta, Instruction},
    system_program,
};
use kassa_convert::{accounts as acc, instruction as ix, instructions::*};
use kassa_hook_interface::{BuyExactOutArgs, HookAccounts};

/// The two coins of a pool, in pool order (`a.mint < b.mint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolRef {
    /// The pool PDA.
    pub address: Pubkey,
    /// Coin A (the mint that sorts first).
    pub a: MintRef,
    /// Coin B.
    pub b: MintRef,
}

/// Builds `kassa_convert` instructions for one deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Convert {
    /// The kassa_convert deployment.
    pub program_id: Pubkey,
}

impl Default for Convert {
    fn default() -> Self {
        Self {
            program_id: kassa_convert::ID,
        }
    }
}

impl Convert {
    /// Builder for a deployment at `program_id`.
    pub fn new(program_id: Pubkey) -> Self {
        Self { program_id }
    }

    /// The pool of two mints, given in any order.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let x = MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap();
    /// let y = MintRef::new(Pubkey::new_unique(), anchor_spl::token_2022::ID).unwrap();
    /// assert_eq!(Convert::default().pool(x, y), Convert::default().pool(y, x));
    /// ```
    pub fn pool(&self, x: MintRef, y: MintRef) -> PoolRef {
        let (a, b) = if x.mint < y.mint { (x, y) } else { (y, x) };
        PoolRef {
            address: pda::convert::pool(&self.program_id, &a.mint, &b.mint).0,
            a,
            b,
        }
    }

    fn event_authority(&self) -> Pubkey {
        pda::event_authority(&self.program_id).0
    }

    fn build(&self, accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
        Instruction {
            program_id: self.program_id,
            accounts: accounts.to_account_metas(None),
            data: data.data(),
        }
    }

    fn vaults(&self, pool: &PoolRef) -> (Pubkey, Pubkey) {
        (
            pda::convert::vault(&self.program_id, &pool.address, &pool.a.mint).0,
            pda::convert::vault(&self.program_id, &pool.address, &pool.b.mint).0,
        )
    }

    fn pool_accounts(&self, pool: &PoolRef) -> acc::PoolAccounts {
        let (vault_a, vault_b) = self.vaults(pool);
        acc::PoolAccounts {
            pool: pool.address,
            vault_a,
            vault_b,
            mint_a: pool.a.mint,
            mint_b: pool.b.mint,
            token_program_a: pool.a.token_program,
            token_program_b: pool.b.token_program,
        }
    }

    /// The pool's LP mint.
    pub fn lp_mint(&self, pool: &PoolRef) -> Pubkey {
        pda::convert::lp_mint(&self.program_id, &pool.address).0
    }

    /// Creates the pool; `admin` pays and administers it.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use kassa_convert::instructions::PoolCreateArgs;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// let args = PoolCreateArgs { amp: 200, trade_fee_bps: 4, protocol_share_bps: 5_000, fee_receiver: Pubkey::new_unique() };
    /// assert!(c.pool_create(&Pubkey::new_unique(), &pool, args).is_ok());
    /// ```
    pub fn pool_create(
        &self,
        admin: &Pubkey,
        pool: &PoolRef,
        args: PoolCreateArgs,
    ) -> Result<Instruction, SdkError> {
        let (vault_a, vault_b) = self.vaults(pool);
        Ok(self.build(
            acc::PoolCreate {
                admin: *admin,
                mint_a: pool.a.mint,
                mint_b: pool.b.mint,
                pool: pool.address,
                vault_a,
                vault_b,
                lp_mint: self.lp_mint(pool),
                token_program_a: pool.a.token_program,
                token_program_b: pool.b.token_program,
                lp_token_program: anchor_spl::token::ID,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolCreate { args },
        ))
    }

    /// Deposits from the provider's associated token accounts for at least `min_lp`.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// assert!(c.pool_add_liquidity(&Pubkey::new_unique(), &pool, 1, 1, 0).is_ok());
    /// assert!(c.pool_add_liquidity(&Pubkey::new_unique(), &pool, 0, 0, 0).is_err());
    /// ```
    pub fn pool_add_liquidity(
        &self,
        provider: &Pubkey,
        pool: &PoolRef,
        amount_a: u64,
        amount_b: u64,
        min_lp: u64,
    ) -> Result<Instruction, SdkError> {
        if amount_a == 0 && amount_b == 0 {
            return Err(SdkError::ZeroAmount);
        }
        let lp_mint = self.lp_mint(pool);
        let lp = MintRef {
            mint: lp_mint,
            token_program: anchor_spl::token::ID,
        };
        Ok(self.build(
            acc::PoolAddLiquidity {
                provider: *provider,
                pool: self.pool_accounts(pool),
                lp_mint,
                provider_a: pool.a.ata(provider),
                provider_b: pool.b.ata(provider),
                provider_lp: lp.ata(provider),
                lp_token_program: anchor_spl::token::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolAddLiquidity {
                amount_a,
                amount_b,
                min_lp,
            },
        ))
    }

    /// Burns `lp_amount` for both coins into the provider's associated token accounts.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// assert!(c.pool_remove_liquidity(&Pubkey::new_unique(), &pool, 10, 0, 0).is_ok());
    /// ```
    pub fn pool_remove_liquidity(
        &self,
        provider: &Pubkey,
        pool: &PoolRef,
        lp_amount: u64,
        min_a: u64,
        min_b: u64,
    ) -> Result<Instruction, SdkError> {
        if lp_amount == 0 {
            return Err(SdkError::ZeroAmount);
        }
        let lp_mint = self.lp_mint(pool);
        let lp = MintRef {
            mint: lp_mint,
            token_program: anchor_spl::token::ID,
        };
        Ok(self.build(
            acc::PoolRemoveLiquidity {
                provider: *provider,
                pool: self.pool_accounts(pool),
                lp_mint,
                provider_a: pool.a.ata(provider),
                provider_b: pool.b.ata(provider),
                provider_lp: lp.ata(provider),
                lp_token_program: anchor_spl::token::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolRemoveLiquidity {
                lp_amount,
                min_a,
                min_b,
            },
        ))
    }

    fn swap_accounts(&self, trader: &Pubkey, pool: &PoolRef) -> acc::PoolSwap {
        acc::PoolSwap {
            trader: *trader,
            pool: self.pool_accounts(pool),
            trader_a: pool.a.ata(trader),
            trader_b: pool.b.ata(trader),
            event_authority: self.event_authority(),
            program: self.program_id,
        }
    }

    /// Swaps exactly `amount_in` of `mint_in` for at least `min_out` of the other coin.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// assert!(c.pool_swap_exact_in(&Pubkey::new_unique(), &pool, &pool.a.mint, 5, 4).is_ok());
    /// assert!(c.pool_swap_exact_in(&Pubkey::new_unique(), &pool, &Pubkey::new_unique(), 5, 4).is_err());
    /// ```
    pub fn pool_swap_exact_in(
        &self,
        trader: &Pubkey,
        pool: &PoolRef,
        mint_in: &Pubkey,
        amount_in: u64,
        min_out: u64,
    ) -> Result<Instruction, SdkError> {
        if amount_in == 0 {
            return Err(SdkError::ZeroAmount);
        }
        let a_to_b = direction(pool, mint_in)?;
        Ok(self.build(
            self.swap_accounts(trader, pool),
            ix::PoolSwapExactIn {
                a_to_b,
                amount_in,
                min_out,
            },
        ))
    }

    /// Swaps at most `max_in` of `mint_in` for exactly `amount_out` of the other coin.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// assert!(c.pool_swap_exact_out(&Pubkey::new_unique(), &pool, &pool.b.mint, 5, 6).is_ok());
    /// ```
    pub fn pool_swap_exact_out(
        &self,
        trader: &Pubkey,
        pool: &PoolRef,
        mint_in: &Pubkey,
        amount_out: u64,
        max_in: u64,
    ) -> Result<Instruction, SdkError> {
        if amount_out == 0 {
            return Err(SdkError::ZeroAmount);
        }
        let a_to_b = direction(pool, mint_in)?;
        Ok(self.build(
            self.swap_accounts(trader, pool),
            ix::PoolSwapExactOut {
                a_to_b,
                amount_out,
                max_in,
            },
        ))
    }

    /// The hook accounts of this pool for buying `mint_out` with `payer`'s `mint_in`, delivered
    /// to `destination`: the fixed interface list followed by the event accounts.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// let metas = c.hook_accounts(&pool, &Pubkey::new_unique(), &pool.a.mint, &Pubkey::new_unique()).unwrap();
    /// assert_eq!(metas.len(), kassa_hook_interface::FIXED_ACCOUNTS + 2);
    /// ```
    pub fn hook_accounts(
        &self,
        pool: &PoolRef,
        payer: &Pubkey,
        mint_in: &Pubkey,
        destination: &Pubkey,
    ) -> Result<Vec<AccountMeta>, SdkError> {
        let a_to_b = direction(pool, mint_in)?;
        let (vault_a, vault_b) = self.vaults(pool);
        let (input, output, vault_in, vault_out) = if a_to_b {
            (pool.a, pool.b, vault_a, vault_b)
        } else {
            (pool.b, pool.a, vault_b, vault_a)
        };
        let mut metas = HookAccounts {
            pool: pool.address,
            vault_in,
            vault_out,
            payer_source: input.ata(payer),
            destination: *destination,
            payer_authority: *payer,
            mint_in: input.mint,
            mint_out: output.mint,
            token_program_in: input.token_program,
            token_program_out: output.token_program,
        }
        .metas();
        metas.push(AccountMeta::new_readonly(self.event_authority(), false));
        metas.push(AccountMeta::new_readonly(self.program_id, false));
        Ok(metas)
    }

    /// The hook instruction itself (what `pay_with_conversion` invokes), for direct use.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// let args = kassa_hook_interface::BuyExactOutArgs { amount_out: 10, max_in: 11 };
    /// let ix = c.hook_buy_exact_out(&pool, &Pubkey::new_unique(), &pool.b.mint, &Pubkey::new_unique(), args).unwrap();
    /// assert_eq!(ix.data[..8], kassa_hook_interface::BUY_EXACT_OUT_DISCRIMINATOR);
    /// ```
    pub fn hook_buy_exact_out(
        &self,
        pool: &PoolRef,
        payer: &Pubkey,
        mint_in: &Pubkey,
        destination: &Pubkey,
        args: BuyExactOutArgs,
    ) -> Result<Instruction, SdkError> {
        if args.amount_out == 0 || args.max_in == 0 {
            return Err(SdkError::ZeroAmount);
        }
        Ok(Instruction {
            program_id: self.program_id,
            accounts: self.hook_accounts(pool, payer, mint_in, destination)?,
            data: args.data(),
        })
    }

    fn admin_accounts(&self, admin: &Pubkey, pool: &PoolRef) -> acc::PoolAdmin {
        acc::PoolAdmin {
            admin: *admin,
            pool: pool.address,
            event_authority: self.event_authority(),
            program: self.program_id,
        }
    }

    /// The admin ramps A to `target_amp`, reached at unix time `stop`.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// assert!(c.pool_ramp_amp(&Pubkey::new_unique(), &pool, 400, 1_900_000_000).is_ok());
    /// ```
    pub fn pool_ramp_amp(
        &self,
        admin: &Pubkey,
        pool: &PoolRef,
        target_amp: u64,
        stop: i64,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            self.admin_accounts(admin, pool),
            ix::PoolRampAmp { target_amp, stop },
        ))
    }

    /// The admin stops a ramp.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// assert!(c.pool_stop_ramp(&Pubkey::new_unique(), &pool).is_ok());
    /// ```
    pub fn pool_stop_ramp(&self, admin: &Pubkey, pool: &PoolRef) -> Result<Instruction, SdkError> {
        Ok(self.build(self.admin_accounts(admin, pool), ix::PoolStopRamp {}))
    }

    /// The admin pauses, resumes or changes fees.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// let args = kassa_convert::instructions::PoolSettingsArgs { paused: Some(true), ..Default::default() };
    /// assert!(c.pool_update_settings(&Pubkey::new_unique(), &pool, args).is_ok());
    /// ```
    pub fn pool_update_settings(
        &self,
        admin: &Pubkey,
        pool: &PoolRef,
        args: PoolSettingsArgs,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            self.admin_accounts(admin, pool),
            ix::PoolUpdateSettings { args },
        ))
    }

    /// Anyone sweeps protocol fees to `fee_receiver`'s associated token accounts.
    ///
    /// ```
    /// # use kassa_sdk::{convert::Convert, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Convert::default();
    /// let pool = c.pool(
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    ///     MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
    /// );
    /// assert!(c.pool_withdraw_protocol_fees(&Pubkey::new_unique(), &pool, &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn pool_withdraw_protocol_fees(
        &self,
        cranker: &Pubkey,
        pool: &PoolRef,
        fee_receiver: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PoolWithdrawProtocolFees {
                cranker: *cranker,
                pool: self.pool_accounts(pool),
                fee_destination_a: pool.a.ata(fee_receiver),
                fee_destination_b: pool.b.ata(fee_receiver),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolWithdrawProtocolFees {},
        ))
    }
}

fn direction(pool: &PoolRef, mint_in: &Pubkey) -> Result<bool, SdkError> {
    if *mint_in == pool.a.mint {
        Ok(true)
    } else if *mint_in == pool.b.mint {
        Ok(false)
    } else {
        Err(SdkError::WrongMint {
            expected: pool.a.mint,
            got: *mint_in,
        })
    }
}
