//! Instruction builders for `kassa_credit` (PayFi pools, credit lines, receivable advances).

use crate::{SdkError, payments::MintRef, pda};
use anchor_lang::{
    InstructionData, ToAccountMetas, prelude::Pubkey, solana_program::instruction::Instruction,
    system_program,
};
use kassa_credit::{
    accounts as acc, instruction as ix,
    instructions::{LineApproveArgs, PoolCreateArgs, PoolPolicyArgs},
    state::{PoolRole, Tranche},
};

/// A credit pool and the accounts derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditPoolRef {
    /// The pool PDA.
    pub address: Pubkey,
    /// Its stablecoin.
    pub mint: MintRef,
    /// Its vault.
    pub vault: Pubkey,
    /// Senior share mint (same token program as the stablecoin).
    pub senior_mint: Pubkey,
    /// Junior share mint.
    pub junior_mint: Pubkey,
}

impl CreditPoolRef {
    /// The share mint of `tranche`.
    pub fn share_mint(&self, tranche: Tranche) -> MintRef {
        let mint = match tranche {
            Tranche::Senior => self.senior_mint,
            Tranche::Junior => self.junior_mint,
        };
        MintRef {
            mint,
            token_program: self.mint.token_program,
        }
    }
}

/// Builds `kassa_credit` instructions for one deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credit {
    /// The kassa_credit deployment.
    pub program_id: Pubkey,
    /// The kassa_payments deployment it works with.
    pub payments_program: Pubkey,
}

impl Default for Credit {
    fn default() -> Self {
        Self {
            program_id: kassa_credit::ID,
            payments_program: kassa_payments::ID,
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

impl Credit {
    /// The pool of `mint` and its derived accounts.
    pub fn pool(&self, mint: MintRef) -> CreditPoolRef {
        let address = pda::credit::pool(&self.program_id, &mint.mint).0;
        CreditPoolRef {
            address,
            mint,
            vault: pda::credit::vault(&self.program_id, &address).0,
            senior_mint: pda::credit::senior_mint(&self.program_id, &address).0,
            junior_mint: pda::credit::junior_mint(&self.program_id, &address).0,
        }
    }

    /// The line of `borrower` in `pool`.
    pub fn line(&self, pool: &CreditPoolRef, borrower: &Pubkey) -> Pubkey {
        pda::credit::line(&self.program_id, &pool.address, borrower).0
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

    /// The payments admin creates the credit pool of `mint`.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use kassa_credit::instructions::PoolCreateArgs;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let usdc = MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap();
    /// let admin = Pubkey::new_unique();
    /// let args = PoolCreateArgs { underwriter: admin, protocol_fee_receiver: admin, senior_cap_bps: 40_000,
    ///     senior_apr_bps: 800, protocol_fee_bps: 1_000, admin_fee_bps: 500, allowlist: false,
    ///     epoch_seconds: 7 * 86_400 , max_line_limit: 1_000_000_000_000, max_active_lines: 16};
    /// let (ix, pool) = c.pool_create(&admin, &usdc, args).unwrap();
    /// assert_eq!(ix.accounts[3].pubkey, pool.address);
    /// ```
    pub fn pool_create(
        &self,
        admin: &Pubkey,
        mint: &MintRef,
        args: PoolCreateArgs,
    ) -> Result<(Instruction, CreditPoolRef), SdkError> {
        let pool = self.pool(*mint);
        let ix = self.build(
            acc::PoolCreate {
                admin: *admin,
                payments_config: pda::config(&self.payments_program).0,
                mint: mint.mint,
                pool: pool.address,
                vault: pool.vault,
                senior_mint: pool.senior_mint,
                junior_mint: pool.junior_mint,
                senior_escrow: pda::credit::share_escrow(
                    &self.program_id,
                    &pool.address,
                    Tranche::Senior,
                )
                .0,
                junior_escrow: pda::credit::share_escrow(
                    &self.program_id,
                    &pool.address,
                    Tranche::Junior,
                )
                .0,
                token_program: mint.token_program,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolCreate { args },
        );
        Ok((ix, pool))
    }

    /// The pool admin allows `lender` to deposit.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let ix = c.lender_allow(&Pubkey::new_unique(), &pool, &Pubkey::new_unique()).unwrap();
    /// assert_eq!(ix.program_id, kassa_credit::ID);
    /// ```
    pub fn lender_allow(
        &self,
        admin: &Pubkey,
        pool: &CreditPoolRef,
        lender: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::LenderAllow {
                admin: *admin,
                pool: pool.address,
                lender: *lender,
                entry: pda::credit::allow(&self.program_id, &pool.address, lender).0,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LenderAllow {},
        ))
    }

    /// The pool admin removes `lender` from the allowlist.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.lender_disallow(&Pubkey::new_unique(), &pool, &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn lender_disallow(
        &self,
        admin: &Pubkey,
        pool: &CreditPoolRef,
        lender: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::LenderDisallow {
                admin: *admin,
                pool: pool.address,
                entry: pda::credit::allow(&self.program_id, &pool.address, lender).0,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LenderDisallow {},
        ))
    }

    /// Anyone recognises the interest accrued so far.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.pool_accrue(&Pubkey::new_unique(), &pool).is_ok());
    /// ```
    pub fn pool_accrue(
        &self,
        caller: &Pubkey,
        pool: &CreditPoolRef,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PoolAccrue {
                caller: *caller,
                pool: pool.address,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolAccrue {},
        ))
    }

    /// The pool admin sets the pool's policy (`None` leaves a setting as it is).
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use kassa_credit::instructions::PoolPolicyArgs;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let pause = PoolPolicyArgs { paused: Some(true), ..Default::default() };
    /// assert!(c.pool_policy_set(&Pubkey::new_unique(), &pool, pause).is_ok());
    /// ```
    pub fn pool_policy_set(
        &self,
        admin: &Pubkey,
        pool: &CreditPoolRef,
        args: PoolPolicyArgs,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PoolPolicySet {
                admin: *admin,
                pool: pool.address,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolPolicySet { args },
        ))
    }

    /// The pool admin hands `role` to `new_holder`, which must co-sign.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use kassa_credit::state::PoolRole;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let next = Pubkey::new_unique();
    /// let ix = c.pool_role_transfer(&Pubkey::new_unique(), &pool, &next, PoolRole::Underwriter).unwrap();
    /// assert!(ix.accounts.iter().any(|a| a.pubkey == next && a.is_signer));
    /// ```
    pub fn pool_role_transfer(
        &self,
        admin: &Pubkey,
        pool: &CreditPoolRef,
        new_holder: &Pubkey,
        role: PoolRole,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PoolRoleTransfer {
                admin: *admin,
                pool: pool.address,
                new_holder: *new_holder,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolRoleTransfer { role },
        ))
    }

    /// The fee receiver (or the pool admin) withdraws its fees to its token account.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let me = Pubkey::new_unique();
    /// let ix = c.pool_fees_withdraw(&me, &pool).unwrap();
    /// assert_eq!(ix.accounts[4].pubkey, pool.mint.ata(&me));
    /// ```
    pub fn pool_fees_withdraw(
        &self,
        recipient: &Pubkey,
        pool: &CreditPoolRef,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::PoolFeesWithdraw {
                recipient: *recipient,
                pool: pool.address,
                vault: pool.vault,
                mint: pool.mint.mint,
                destination: pool.mint.ata(recipient),
                token_program: pool.mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::PoolFeesWithdraw {},
        ))
    }

    /// A lender deposits `amount` from its associated token account into `tranche`, receiving
    /// at least `min_shares` shares in its associated share account (create it first).
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef, SdkError};
    /// # use kassa_credit::state::Tranche;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let lender = Pubkey::new_unique();
    /// assert!(c.tranche_deposit(&lender, &pool, Tranche::Junior, 1_000_000, 1_000_000, false).is_ok());
    /// assert!(matches!(c.tranche_deposit(&lender, &pool, Tranche::Junior, 0, 0, false), Err(SdkError::ZeroAmount)));
    /// ```
    pub fn tranche_deposit(
        &self,
        lender: &Pubkey,
        pool: &CreditPoolRef,
        tranche: Tranche,
        amount: u64,
        min_shares: u64,
        allowlisted: bool,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        let shares = pool.share_mint(tranche);
        Ok(self.build(
            acc::TrancheDeposit {
                lender: *lender,
                pool: pool.address,
                vault: pool.vault,
                mint: pool.mint.mint,
                share_mint: shares.mint,
                source: pool.mint.ata(lender),
                shares_to: shares.ata(lender),
                allow: allowlisted
                    .then(|| pda::credit::allow(&self.program_id, &pool.address, lender).0),
                token_program: pool.mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::TrancheDeposit {
                tranche,
                amount,
                min_shares,
            },
        ))
    }

    /// A lender queues `shares` of `tranche` (from its associated share account) for
    /// redemption at the epoch's end. In a pool that keeps an allowlist, `allowlisted` passes
    /// the lender's entry (the program refuses a lender without one).
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef, SdkError};
    /// # use kassa_credit::state::Tranche;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.redemption_request(&Pubkey::new_unique(), &pool, Tranche::Senior, 10, false).is_ok());
    /// assert!(matches!(c.redemption_request(&Pubkey::new_unique(), &pool, Tranche::Senior, 0, false), Err(SdkError::ZeroAmount)));
    /// ```
    pub fn redemption_request(
        &self,
        lender: &Pubkey,
        pool: &CreditPoolRef,
        tranche: Tranche,
        shares: u64,
        allowlisted: bool,
    ) -> Result<Instruction, SdkError> {
        require_amount(shares)?;
        let share_mint = pool.share_mint(tranche);
        Ok(self.build(
            acc::RedemptionRequest {
                lender: *lender,
                pool: pool.address,
                share_mint: share_mint.mint,
                lender_shares: share_mint.ata(lender),
                escrow: pda::credit::share_escrow(&self.program_id, &pool.address, tranche).0,
                request: pda::credit::redemption(&self.program_id, &pool.address, tranche, lender)
                    .0,
                allow: allowlisted
                    .then(|| pda::credit::allow(&self.program_id, &pool.address, lender).0),
                token_program: pool.mint.token_program,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::RedemptionRequest { tranche, shares },
        ))
    }

    /// A lender takes `shares` of `tranche` it queued back into its associated share account.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef, SdkError};
    /// # use kassa_credit::state::Tranche;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.redemption_cancel(&Pubkey::new_unique(), &pool, Tranche::Senior, 10).is_ok());
    /// assert!(matches!(c.redemption_cancel(&Pubkey::new_unique(), &pool, Tranche::Senior, 0), Err(SdkError::ZeroAmount)));
    /// ```
    pub fn redemption_cancel(
        &self,
        lender: &Pubkey,
        pool: &CreditPoolRef,
        tranche: Tranche,
        shares: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(shares)?;
        let share_mint = pool.share_mint(tranche);
        Ok(self.build(
            acc::RedemptionCancel {
                lender: *lender,
                pool: pool.address,
                share_mint: share_mint.mint,
                lender_shares: share_mint.ata(lender),
                escrow: pda::credit::share_escrow(&self.program_id, &pool.address, tranche).0,
                request: pda::credit::redemption(&self.program_id, &pool.address, tranche, lender)
                    .0,
                token_program: pool.mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::RedemptionCancel { tranche, shares },
        ))
    }

    /// Anyone closes epoch `epoch_id` (the pool's current one) once it has ended. `lines` are
    /// the pool's active lines (every line that owes something and is not written off, at
    /// most the pool's `max_active_lines`; the indexer's `credit_line` table or
    /// `getProgramAccounts` lists them): the program brings each up to date before serving
    /// redemptions and refuses the call unless all of them are there. Order and duplicates
    /// do not matter here: they go sorted and once.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
    /// let ix = c.epoch_close(&Pubkey::new_unique(), &pool, 0, &[b, a, b]).unwrap();
    /// assert_eq!(ix.accounts.len(), 12 + 2);
    /// assert!(ix.accounts[12].pubkey < ix.accounts[13].pubkey && ix.accounts[12].is_writable);
    /// ```
    pub fn epoch_close(
        &self,
        caller: &Pubkey,
        pool: &CreditPoolRef,
        epoch_id: u64,
        lines: &[Pubkey],
    ) -> Result<Instruction, SdkError> {
        let id = &self.program_id;
        let mut lines = lines.to_vec();
        lines.sort_unstable();
        lines.dedup();
        let mut ix = self.build(
            acc::EpochClose {
                caller: *caller,
                pool: pool.address,
                senior_record: pda::credit::epoch(id, &pool.address, Tranche::Senior, epoch_id).0,
                junior_record: pda::credit::epoch(id, &pool.address, Tranche::Junior, epoch_id).0,
                senior_mint: pool.senior_mint,
                junior_mint: pool.junior_mint,
                senior_escrow: pda::credit::share_escrow(id, &pool.address, Tranche::Senior).0,
                junior_escrow: pda::credit::share_escrow(id, &pool.address, Tranche::Junior).0,
                token_program: pool.mint.token_program,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::EpochClose {},
        );
        ix.accounts.extend(
            lines.into_iter().map(|line| {
                anchor_lang::solana_program::instruction::AccountMeta::new(line, false)
            }),
        );
        Ok(ix)
    }

    /// A lender settles its request over epochs `from..to` (their records go along, writable:
    /// settling updates them) and withdraws what was served to its associated token account.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use kassa_credit::state::Tranche;
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let ix = c.redemption_withdraw(&Pubkey::new_unique(), &pool, Tranche::Junior, 0..3).unwrap();
    /// assert_eq!(ix.accounts.len(), 9 + 3);
    /// ```
    pub fn redemption_withdraw(
        &self,
        lender: &Pubkey,
        pool: &CreditPoolRef,
        tranche: Tranche,
        epochs: std::ops::Range<u64>,
    ) -> Result<Instruction, SdkError> {
        let mut ix = self.build(
            acc::RedemptionWithdraw {
                lender: *lender,
                pool: pool.address,
                request: pda::credit::redemption(&self.program_id, &pool.address, tranche, lender)
                    .0,
                vault: pool.vault,
                mint: pool.mint.mint,
                destination: pool.mint.ata(lender),
                token_program: pool.mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::RedemptionWithdraw {},
        );
        for e in epochs {
            ix.accounts
                .push(anchor_lang::solana_program::instruction::AccountMeta::new(
                    pda::credit::epoch(&self.program_id, &pool.address, tranche, e).0,
                    false,
                ));
        }
        Ok(ix)
    }

    /// The underwriter approves a line for `borrower` (with `merchant`, the payments merchant
    /// account, for a receivable-backed line).
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use kassa_credit::{instructions::LineApproveArgs, state::LineKind};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let args = LineApproveArgs { kind: LineKind::Revolving, limit: 10, apr_bps: 1_200, late_apr_bps: 500,
    ///     advance_rate_bps: 0, maturity: 1_000, payment_interval: 100, grace_seconds: 10 };
    /// let borrower = Pubkey::new_unique();
    /// let ix = c.line_approve(&Pubkey::new_unique(), &pool, &borrower, None, args).unwrap();
    /// assert_eq!(ix.accounts[3].pubkey, c.line(&pool, &borrower));
    /// ```
    pub fn line_approve(
        &self,
        underwriter: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
        merchant: Option<Pubkey>,
        args: LineApproveArgs,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::LineApprove {
                underwriter: *underwriter,
                pool: pool.address,
                borrower: *borrower,
                line: self.line(pool, borrower),
                merchant,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LineApprove { args },
        ))
    }

    /// The borrower draws `amount` into its associated token account.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.line_draw(&Pubkey::new_unique(), &pool, 5).is_ok());
    /// assert!(c.line_draw(&Pubkey::new_unique(), &pool, 0).is_err());
    /// ```
    pub fn line_draw(
        &self,
        borrower: &Pubkey,
        pool: &CreditPoolRef,
        amount: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        Ok(self.build(
            acc::LineDraw {
                borrower: *borrower,
                pool: pool.address,
                line: self.line(pool, borrower),
                vault: pool.vault,
                mint: pool.mint.mint,
                destination: pool.mint.ata(borrower),
                token_program: pool.mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LineDraw { amount },
        ))
    }

    /// `payer` repays up to `amount` of `borrower`'s line from its associated token account.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let (payer, borrower) = (Pubkey::new_unique(), Pubkey::new_unique());
    /// let ix = c.line_repay(&payer, &pool, &borrower, 5).unwrap();
    /// assert_eq!(ix.accounts[5].pubkey, pool.mint.ata(&payer));
    /// ```
    pub fn line_repay(
        &self,
        payer: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
        amount: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        Ok(self.build(
            acc::LineRepay {
                payer: *payer,
                pool: pool.address,
                line: self.line(pool, borrower),
                vault: pool.vault,
                mint: pool.mint.mint,
                source: pool.mint.ata(payer),
                token_program: pool.mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LineRepay { amount },
        ))
    }

    fn line_underwriting(
        &self,
        underwriter: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
    ) -> acc::LineUnderwriting {
        acc::LineUnderwriting {
            underwriter: *underwriter,
            pool: pool.address,
            line: self.line(pool, borrower),
        }
    }

    /// Anyone moves a line's status by time.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.line_refresh(&Pubkey::new_unique(), &pool, &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn line_refresh(
        &self,
        caller: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::LineRefresh {
                caller: *caller,
                pool: pool.address,
                line: self.line(pool, borrower),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LineRefresh {},
        ))
    }

    /// The underwriter restores a delayed or defaulted line once nothing is overdue.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.line_restore(&Pubkey::new_unique(), &pool, &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn line_restore(
        &self,
        underwriter: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::LineRestore {
                line_underwriting: self.line_underwriting(underwriter, pool, borrower),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LineRestore {},
        ))
    }

    /// The underwriter marks `amount` of a line's value down.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef, SdkError};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.line_impair(&Pubkey::new_unique(), &pool, &Pubkey::new_unique(), 5).is_ok());
    /// assert!(matches!(c.line_impair(&Pubkey::new_unique(), &pool, &Pubkey::new_unique(), 0), Err(SdkError::ZeroAmount)));
    /// ```
    pub fn line_impair(
        &self,
        underwriter: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
        amount: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        Ok(self.build(
            acc::LineImpair {
                line_underwriting: self.line_underwriting(underwriter, pool, borrower),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LineImpair { amount },
        ))
    }

    /// The underwriter reverses `amount` of a line's impairment.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.line_impairment_reverse(&Pubkey::new_unique(), &pool, &Pubkey::new_unique(), 5).is_ok());
    /// ```
    pub fn line_impairment_reverse(
        &self,
        underwriter: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
        amount: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        Ok(self.build(
            acc::LineImpairmentReverse {
                line_underwriting: self.line_underwriting(underwriter, pool, borrower),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LineImpairmentReverse { amount },
        ))
    }

    /// The underwriter writes a line off.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.line_write_off(&Pubkey::new_unique(), &pool, &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn line_write_off(
        &self,
        underwriter: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::LineWriteOff {
                line_underwriting: self.line_underwriting(underwriter, pool, borrower),
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::LineWriteOff {},
        ))
    }

    /// A merchant (its authority, the line's borrower) takes an advance of `amount` on
    /// `payment`, paid to its associated token account.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// let (merchant_authority, merchant, payment) = (Pubkey::new_unique(), Pubkey::new_unique(), Pubkey::new_unique());
    /// let ix = c.advance_take(&merchant_authority, &pool, &merchant, &payment, 10).unwrap();
    /// assert_eq!(ix.accounts[6].pubkey, kassa_sdk::pda::credit::advance(&c.program_id, &payment).0);
    /// ```
    pub fn advance_take(
        &self,
        borrower: &Pubkey,
        pool: &CreditPoolRef,
        merchant: &Pubkey,
        payment: &Pubkey,
        amount: u64,
    ) -> Result<Instruction, SdkError> {
        require_amount(amount)?;
        Ok(self.build(
            acc::AdvanceTake {
                borrower: *borrower,
                pool: pool.address,
                line: self.line(pool, borrower),
                vault: pool.vault,
                mint: pool.mint.mint,
                destination: pool.mint.ata(borrower),
                advance: pda::credit::advance(&self.program_id, payment).0,
                advance_vault: pda::credit::advance_vault(&self.program_id, payment).0,
                payment: *payment,
                merchant: *merchant,
                payments_config: pda::config(&self.payments_program).0,
                payments_event_authority: pda::event_authority(&self.payments_program).0,
                payments_program: self.payments_program,
                token_program: pool.mint.token_program,
                system_program: system_program::ID,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::AdvanceTake { amount },
        ))
    }

    /// Anyone books what the advanced `payment` paid; arrivals beyond the line's debt go to
    /// the borrower's associated token account.
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.receivable_sync(&Pubkey::new_unique(), &pool, &Pubkey::new_unique(), &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn receivable_sync(
        &self,
        caller: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
        payment: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::ReceivableSync {
                caller: *caller,
                pool: pool.address,
                line: self.line(pool, borrower),
                advance: pda::credit::advance(&self.program_id, payment).0,
                advance_vault: pda::credit::advance_vault(&self.program_id, payment).0,
                vault: pool.vault,
                mint: pool.mint.mint,
                payment: *payment,
                borrower_destination: pool.mint.ata(borrower),
                token_program: pool.mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::ReceivableSync {},
        ))
    }

    /// Anyone closes the settled advance on `payment`; its rent and anything left in its token
    /// account go to the borrower (the token account is the borrower's associated one).
    ///
    /// ```
    /// # use kassa_sdk::{credit::Credit, payments::MintRef};
    /// # use anchor_lang::prelude::Pubkey;
    /// let c = Credit::default();
    /// let pool = c.pool(MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap());
    /// assert!(c.advance_close(&Pubkey::new_unique(), &pool, &Pubkey::new_unique(), &Pubkey::new_unique()).is_ok());
    /// ```
    pub fn advance_close(
        &self,
        caller: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
        payment: &Pubkey,
    ) -> Result<Instruction, SdkError> {
        Ok(self.build(
            acc::AdvanceClose {
                caller: *caller,
                pool: pool.address,
                line: self.line(pool, borrower),
                advance: pda::credit::advance(&self.program_id, payment).0,
                advance_vault: pda::credit::advance_vault(&self.program_id, payment).0,
                mint: pool.mint.mint,
                borrower: *borrower,
                borrower_destination: pool.mint.ata(borrower),
                token_program: pool.mint.token_program,
                event_authority: self.event_authority(),
                program: self.program_id,
            },
            ix::AdvanceClose {},
        ))
    }
}
