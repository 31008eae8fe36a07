//! Shared fixture: a fresh bank per test with the Kassa programs, the protocol roles, mints of
//! both token programs, funded wallets, and a `send` that returns the decoded events.

use anchor_lang::{prelude::Pubkey, AccountDeserialize};
use anchor_spl::token_2022::spl_token_2022::{
    self,
    extension::{transfer_fee, ExtensionType, StateWithExtensions},
    state::{Account as TokenAccountState, Mint as MintState},
};
use kassa_payments::{instructions::ConfigInitArgs, state::*};
use kassa_sdk::{
    decode::{decode_event_cpi, PaymentsEvent},
    payments::{MintRef, OrderId, Payments, ReleaseRefs, SettlementRefs},
    pda,
};
use solana_program_test::{BanksClientError, ProgramTestContext};
use solana_sdk::{
    account::Account,
    instruction::{Instruction, InstructionError},
    signature::{Keypair, Signer},
    transaction::{Transaction, TransactionError},
};
use solana_system_interface::instruction as system_instruction;

pub const DAY: i64 = 86_400;

pub const FEE_BPS: u16 = 30;

/// A default policy: 7-day authorization, 30-day refunds, 7-day disputes, no auto-capture.
pub fn policy() -> MerchantPolicy {
    MerchantPolicy {
        authorization_window: 7 * DAY,
        auto_capture_delay: 0,
        refund_window: 30 * DAY,
        dispute_window: 7 * DAY,
        require_kyt: false,
    }
}

/// A merchant that sells on receivable terms: a month to capture, three days to dispute. Its
/// payments can back advances once the dispute window has closed.
pub fn receivable_policy() -> MerchantPolicy {
    MerchantPolicy {
        authorization_window: 30 * DAY,
        dispute_window: 3 * DAY,
        ..policy()
    }
}

/// What a test mint carries besides its decimals.
#[derive(Clone, Copy, Debug)]
pub enum MintFeature {
    /// Token-2022 transfer fee: basis points, maximum fee.
    TransferFee(u16, u64),
    PermanentDelegate(Pubkey),
    /// Token-2022 `MintCloseAuthority`.
    CloseAuthority(Pubkey),
    /// Token-2022 `Pausable`, with its pause authority.
    Pausable(Pubkey),
    /// A freeze authority (either token program).
    FreezeAuthority(Pubkey),
}

/// What a successful transaction left behind.
#[derive(Debug)]
pub struct Landed {
    pub events: Vec<PaymentsEvent>,
    /// Events of the conversion program in the same transaction.
    pub convert_events: Vec<kassa_sdk::decode::ConvertEvent>,
    /// Events of the credit program in the same transaction.
    pub credit_events: Vec<kassa_sdk::decode::CreditEvent>,
    pub logs: Vec<String>,
}

/// A merchant set up and KYB-approved, with its settlement mint.
#[derive(Clone, Copy, Debug)]
pub struct MerchantFixture {
    pub authority: Pubkey,
    pub address: Pubkey,
    pub mint: MintRef,
}

/// The one test fixture: a fresh bank with the Kassa programs, the protocol roles and the
/// payments builder, and `w`, the world a test area adds on top (a credit pool, conversion
/// pools; nothing for payments alone).
pub struct Env<W = ()> {
    pub ctx: ProgramTestContext,
    pub admin: Keypair,
    pub compliance: Keypair,
    pub arbiter: Keypair,
    pub fee_receiver: Keypair,
    pub p: Payments,
    pub w: W,
    nonce: u32,
    keys: Vec<Keypair>,
}

/// The error code a failed transaction carries, when it failed in a program with `Custom`.
pub fn custom_code(err: &BanksClientError) -> Option<u32> {
    match err {
        BanksClientError::TransactionError(TransactionError::InstructionError(
            _,
            InstructionError::Custom(code),
        ))
        | BanksClientError::SimulationError {
            err: TransactionError::InstructionError(_, InstructionError::Custom(code)),
            ..
        } => Some(*code),
        _ => None,
    }
}

/// The instruction error a failed transaction carries.
pub fn instruction_error(err: &BanksClientError) -> Option<InstructionError> {
    match err {
        BanksClientError::TransactionError(TransactionError::InstructionError(_, e))
        | BanksClientError::SimulationError {
            err: TransactionError::InstructionError(_, e),
            ..
        } => Some(e.clone()),
        _ => None,
    }
}

/// A transaction the bank refused, with the logs of its simulation.
#[derive(Debug)]
pub struct Refused {
    pub err: BanksClientError,
    pub logs: Vec<String>,
}

impl Refused {
    /// The named rule that refused the transaction: the error of the Kassa program that
    /// failed first (the innermost; its callers fail with the same code), when it is one of its own rules (code 6000 and
    /// up) or one of the framework errors in `framework` (such as `AccountNotInitialized` for
    /// an account already closed). Anything else is a bug for the randomized runs:
    /// `InvariantViolated`, an arithmetic overflow, a runtime or token-program error, another
    /// framework error.
    pub fn rule(&self, framework: &[anchor_lang::error::ErrorCode]) -> Result<String, String> {
        let bug = || format!("{:?}\n{}", self.err, self.logs.join("\n"));
        let code = custom_code(&self.err).ok_or_else(bug)?;
        let program = self
            .logs
            .iter()
            .find_map(|l| {
                let rest = l.strip_prefix("Program ")?;
                let (id, _) = rest.split_once(" failed: custom program error")?;
                id.parse::<Pubkey>().ok()
            })
            .ok_or_else(bug)?;
        if let Some(f) = framework.iter().find(|f| u32::from(**f) == code) {
            return Ok(format!("{f:?}"));
        }
        match kassa_sdk::programs::name_error(&program, code) {
            Some(e) if e.name != "InvariantViolated" && e.name != "ArithmeticOverflow" => {
                Ok(e.name)
            }
            _ => Err(bug()),
        }
    }
}

/// Asserts that `result` failed with the Anchor/program error `code`.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, BanksClientError>, code: u32) {
    match result {
        Ok(v) => panic!("expected error {code}, transaction succeeded: {v:?}"),
        Err(e) => assert_eq!(custom_code(&e), Some(code), "wrong error: {e:?}"),
    }
}

/// The code of any Kassa program's error (Anchor numbers them from 6000).
pub fn code(err: impl Into<u32>) -> u32 {
    err.into()
}

/// Asserts that `result` failed with the program error `err`, of any Kassa program.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(result: Result<T, BanksClientError>, err: impl Into<u32>) {
    assert_code(result, err.into());
}

impl Env {
    /// A bank with the programs loaded and the config initialized (fee 30 bps).
    pub async fn new() -> Self {
        Self::with_programs(|_| ()).await
    }

    /// Like [`Env::new`], with extra native programs (test hooks) registered by `extra`.
    pub async fn with_programs(extra: impl FnOnce(&mut solana_program_test::ProgramTest)) -> Self {
        let mut pt = kassa_localnet::program_test();
        extra(&mut pt);
        let ctx = pt.start_with_context().await;
        let mut env = Self {
            ctx,
            admin: Keypair::new(),
            compliance: Keypair::new(),
            arbiter: Keypair::new(),
            fee_receiver: Keypair::new(),
            p: Payments::default(),
            w: (),
            nonce: 0,
            keys: Vec::new(),
        };
        for who in [
            env.admin.pubkey(),
            env.compliance.pubkey(),
            env.arbiter.pubkey(),
        ] {
            env.airdrop(&who, 10_000_000_000).await;
        }
        let admin = env.admin.insecure_clone();
        let ix = env
            .p
            .config_init(
                &admin.pubkey(),
                &admin.pubkey(),
                None,
                ConfigInitArgs {
                    compliance_authority: env.compliance.pubkey(),
                    arbiter: env.arbiter.pubkey(),
                    fee_receiver: env.fee_receiver.pubkey(),
                    protocol_fee_bps: FEE_BPS,
                },
            )
            .expect("config_init builds");
        env.send(&[ix], &[&admin]).await.expect("config_init lands");
        env
    }

    /// This bank with `w` as its world.
    pub fn with<W>(self, w: W) -> Env<W> {
        Env {
            ctx: self.ctx,
            admin: self.admin,
            compliance: self.compliance,
            arbiter: self.arbiter,
            fee_receiver: self.fee_receiver,
            p: self.p,
            w,
            nonce: self.nonce,
            keys: self.keys,
        }
    }
}

impl<W> Env<W> {
    pub fn payer(&self) -> Keypair {
        self.ctx.payer.insecure_clone()
    }

    pub async fn now(&mut self) -> i64 {
        self.clock().await.unix_timestamp
    }

    pub async fn clock(&mut self) -> solana_sdk::clock::Clock {
        self.ctx
            .banks_client
            .get_sysvar::<solana_sdk::clock::Clock>()
            .await
            .expect("clock")
    }

    /// Moves the clock forward by `seconds`.
    pub async fn warp(&mut self, seconds: i64) {
        let mut clock = self.clock().await;
        clock.unix_timestamp += seconds;
        self.ctx.set_sysvar(&clock);
    }

    /// Sends `ixs` signed by the context payer (fee payer) and `signers`. The transaction is
    /// simulated first, which is how the bank reports inner instructions (and so the
    /// `emit_cpi!` events), then processed.
    pub async fn send(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Landed, BanksClientError> {
        let tx = self.sign(ixs, signers).await?;
        let sim = self
            .ctx
            .banks_client
            .simulate_transaction(tx.clone())
            .await?;
        if let Some(Err(err)) = sim.result {
            return Err(BanksClientError::TransactionError(err));
        }
        let details = sim.simulation_details.expect("simulation details");
        let account_keys = tx.message.account_keys.clone();
        self.ctx.banks_client.process_transaction(tx).await?;
        let mut events = Vec::new();
        let mut convert_events = Vec::new();
        let mut credit_events = Vec::new();
        for inner in details.inner_instructions.unwrap_or_default() {
            for ix in inner {
                let program = account_keys[usize::from(ix.instruction.program_id_index)];
                if program == kassa_convert::ID {
                    if let Some(event) =
                        kassa_sdk::decode::decode_convert_event_cpi(&ix.instruction.data)
                            .expect("convert event decodes")
                    {
                        convert_events.push(event);
                    }
                    continue;
                }
                if program == kassa_credit::ID {
                    if let Some(event) =
                        kassa_sdk::decode::decode_credit_event_cpi(&ix.instruction.data)
                            .expect("credit event decodes")
                    {
                        credit_events.push(event);
                    }
                    continue;
                }
                if program != self.p.program_id {
                    continue;
                }
                if let Some(event) = decode_event_cpi(&ix.instruction.data).expect("event decodes")
                {
                    events.push(event);
                }
            }
        }
        Ok(Landed {
            events,
            convert_events,
            credit_events,
            logs: details.logs,
        })
    }

    /// `ixs` in a transaction signed by the context payer and `signers`, unique (a compute
    /// limit that changes with every call) and against the bank's current blockhash.
    async fn sign(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Transaction, BanksClientError> {
        self.nonce = self.nonce.wrapping_add(1);
        let mut all = vec![
            solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(
                1_000_000 + self.nonce % 100_000,
            ),
        ];
        all.extend_from_slice(ixs);
        let payer = self.payer();
        let mut keys: Vec<&Keypair> = vec![&payer];
        keys.extend_from_slice(signers);
        // The bank moves on by itself; always sign against its current blockhash.
        let blockhash = self.ctx.banks_client.get_latest_blockhash().await?;
        Ok(Transaction::new_signed_with_payer(
            &all,
            Some(&payer.pubkey()),
            &keys,
            blockhash,
        ))
    }

    /// Sends `ixs` for the randomized runs: processed without the simulation that reports
    /// events, which halves the work; a refusal is simulated again to read its logs.
    pub async fn attempt(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), Refused> {
        let refused = |err| Refused {
            err,
            logs: Vec::new(),
        };
        let tx = self.sign(ixs, signers).await.map_err(refused)?;
        let Err(err) = self.ctx.banks_client.process_transaction(tx).await else {
            return Ok(());
        };
        let tx = self.sign(ixs, signers).await.map_err(refused)?;
        let logs = match self.ctx.banks_client.simulate_transaction(tx).await {
            Ok(sim) => sim.simulation_details.map(|d| d.logs).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        Err(Refused { err, logs })
    }

    /// Runs `ixs` without committing anything; a refusal comes with its logs.
    pub async fn simulate_with_logs(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), Refused> {
        let tx = self.sign(ixs, signers).await.map_err(|err| Refused {
            err,
            logs: Vec::new(),
        })?;
        match self.ctx.banks_client.simulate_transaction(tx).await {
            Ok(sim) => match sim.result {
                Some(Err(err)) => Err(Refused {
                    err: BanksClientError::TransactionError(err),
                    logs: sim.simulation_details.map(|d| d.logs).unwrap_or_default(),
                }),
                _ => Ok(()),
            },
            Err(err) => Err(Refused {
                err,
                logs: Vec::new(),
            }),
        }
    }

    /// Runs `ixs` without committing anything: proves a transaction would land.
    pub async fn simulate(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), BanksClientError> {
        let payer = self.payer();
        let mut keys: Vec<&Keypair> = vec![&payer];
        keys.extend_from_slice(signers);
        let blockhash = self.ctx.banks_client.get_latest_blockhash().await?;
        let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &keys, blockhash);
        match self.ctx.banks_client.simulate_transaction(tx).await?.result {
            Some(Err(err)) => Err(BanksClientError::TransactionError(err)),
            _ => Ok(()),
        }
    }

    pub async fn airdrop(&mut self, to: &Pubkey, lamports: u64) {
        let payer = self.payer();
        let ix = system_instruction::transfer(&payer.pubkey(), to, lamports);
        self.send(&[ix], &[]).await.expect("airdrop");
    }

    /// The accounts `ix` would create (writable, not signing, and not on the chain yet), each
    /// pre-funded with `lamports`, as anyone may do to a predictable address. Returns them.
    pub async fn prefund_created_accounts(
        &mut self,
        ix: &Instruction,
        lamports: u64,
    ) -> Vec<Pubkey> {
        let mut funded = Vec::new();
        for meta in &ix.accounts {
            if meta.is_writable
                && !meta.is_signer
                && !funded.contains(&meta.pubkey)
                && self.account(&meta.pubkey).await.is_none()
            {
                self.airdrop(&meta.pubkey, lamports).await;
                funded.push(meta.pubkey);
            }
        }
        funded
    }

    /// A new funded wallet.
    pub async fn wallet(&mut self) -> Keypair {
        let k = Keypair::new();
        self.airdrop(&k.pubkey(), 5_000_000_000).await;
        self.keys.push(k.insecure_clone());
        k
    }

    /// A mint with `decimals`; on Token-2022 optionally with a transfer fee (bps, max fee)
    /// and/or a permanent delegate.
    pub async fn mint(
        &mut self,
        token_program: Pubkey,
        decimals: u8,
        transfer_fee: Option<(u16, u64)>,
        permanent_delegate: Option<Pubkey>,
    ) -> MintRef {
        let mut features = Vec::new();
        if let Some((bps, max)) = transfer_fee {
            features.push(MintFeature::TransferFee(bps, max));
        }
        if let Some(delegate) = permanent_delegate {
            features.push(MintFeature::PermanentDelegate(delegate));
        }
        self.mint_with(token_program, decimals, &features).await
    }

    /// A mint with `decimals` and `features` (Token-2022 extensions, a freeze authority). The
    /// test payer is its mint authority and its transfer-fee authority.
    pub async fn mint_with(
        &mut self,
        token_program: Pubkey,
        decimals: u8,
        features: &[MintFeature],
    ) -> MintRef {
        let mint = Keypair::new();
        let payer = self.payer();
        let extensions: Vec<ExtensionType> = features
            .iter()
            .filter_map(|f| match f {
                MintFeature::TransferFee(..) => Some(ExtensionType::TransferFeeConfig),
                MintFeature::PermanentDelegate(_) => Some(ExtensionType::PermanentDelegate),
                MintFeature::CloseAuthority(_) => Some(ExtensionType::MintCloseAuthority),
                MintFeature::Pausable(_) => Some(ExtensionType::Pausable),
                MintFeature::FreezeAuthority(_) => None,
            })
            .collect();
        let space = if token_program == spl_token_2022::ID {
            ExtensionType::try_calculate_account_len::<MintState>(&extensions).expect("mint len")
        } else {
            82
        };
        let rent = self.ctx.banks_client.get_rent().await.expect("rent");
        let mut ixs = vec![system_instruction::create_account(
            &payer.pubkey(),
            &mint.pubkey(),
            rent.minimum_balance(space),
            space as u64,
            &token_program,
        )];
        let mut freeze = None;
        for feature in features {
            let ix = match *feature {
                MintFeature::TransferFee(bps, max) => {
                    transfer_fee::instruction::initialize_transfer_fee_config(
                        &token_program,
                        &mint.pubkey(),
                        Some(&payer.pubkey()),
                        Some(&payer.pubkey()),
                        bps,
                        max,
                    )
                }
                MintFeature::PermanentDelegate(delegate) => {
                    spl_token_2022::instruction::initialize_permanent_delegate(
                        &token_program,
                        &mint.pubkey(),
                        &delegate,
                    )
                }
                MintFeature::CloseAuthority(authority) => {
                    spl_token_2022::instruction::initialize_mint_close_authority(
                        &token_program,
                        &mint.pubkey(),
                        Some(&authority),
                    )
                }
                MintFeature::Pausable(authority) => {
                    spl_token_2022::extension::pausable::instruction::initialize(
                        &token_program,
                        &mint.pubkey(),
                        &authority,
                    )
                }
                MintFeature::FreezeAuthority(authority) => {
                    freeze = Some(authority);
                    continue;
                }
            };
            ixs.push(ix.expect("extension"));
        }
        ixs.push(
            spl_token_2022::instruction::initialize_mint2(
                &token_program,
                &mint.pubkey(),
                &payer.pubkey(),
                freeze.as_ref(),
                decimals,
            )
            .expect("init mint"),
        );
        self.send(&ixs, &[&mint]).await.expect("create mint");
        MintRef::new(mint.pubkey(), token_program).expect("token program")
    }

    /// The mint's transfer-fee authority (the test payer) schedules a new fee.
    pub async fn set_transfer_fee(&mut self, mint: &MintRef, bps: u16, max: u64) {
        let payer = self.payer();
        let ix = transfer_fee::instruction::set_transfer_fee(
            &mint.token_program,
            &mint.mint,
            &payer.pubkey(),
            &[],
            bps,
            max,
        )
        .expect("set fee");
        self.send(&[ix], &[]).await.expect("set_transfer_fee");
    }

    /// Creates (if needed) the associated token account of `owner` and mints `amount` into it.
    pub async fn fund(&mut self, mint: &MintRef, owner: &Pubkey, amount: u64) -> Pubkey {
        let ata = mint.ata(owner);
        let payer = self.payer();
        let mut ixs = Vec::new();
        if self.account(&ata).await.is_none() {
            ixs.push(
                anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(
                    &payer.pubkey(),
                    owner,
                    &mint.mint,
                    &mint.token_program,
                ),
            );
        }
        if amount > 0 {
            ixs.push(
                spl_token_2022::instruction::mint_to(
                    &mint.token_program,
                    &mint.mint,
                    &ata,
                    &payer.pubkey(),
                    &[],
                    amount,
                )
                .expect("mint_to"),
            );
        }
        if !ixs.is_empty() {
            self.send(&ixs, &[]).await.expect("fund");
        }
        ata
    }

    pub async fn account(&mut self, address: &Pubkey) -> Option<Account> {
        self.ctx
            .banks_client
            .get_account(*address)
            .await
            .expect("get_account")
    }

    /// Token balance of a token account (0 when it does not exist).
    /// Lamports held by `address` (0 when it does not exist).
    pub async fn lamports(&mut self, address: &Pubkey) -> u64 {
        self.account(address).await.map_or(0, |a| a.lamports)
    }

    pub async fn balance(&mut self, address: &Pubkey) -> u64 {
        match self.account(address).await {
            Some(a) => {
                StateWithExtensions::<TokenAccountState>::unpack(&a.data)
                    .expect("token account")
                    .base
                    .amount
            }
            None => 0,
        }
    }

    /// `owner` burns `amount` from its associated token account of `mint`.
    pub async fn burn(&mut self, mint: &MintRef, owner: &Keypair, amount: u64) {
        let ix = spl_token_2022::instruction::burn(
            &mint.token_program,
            &mint.ata(&owner.pubkey()),
            &mint.mint,
            &owner.pubkey(),
            &[],
            amount,
        )
        .expect("burn");
        self.send(&[ix], &[owner]).await.expect("burn");
    }

    pub async fn supply(&mut self, mint: &MintRef) -> u64 {
        let a = self.account(&mint.mint).await.expect("mint exists");
        StateWithExtensions::<MintState>::unpack(&a.data)
            .expect("mint")
            .base
            .supply
    }

    /// A token account's (balance, withheld transfer fees) in one read; (0, 0) when absent.
    pub async fn token(&mut self, address: &Pubkey) -> (u64, u64) {
        use spl_token_2022::extension::BaseStateWithExtensions;
        let Some(a) = self.account(address).await else {
            return (0, 0);
        };
        let state =
            StateWithExtensions::<TokenAccountState>::unpack(&a.data).expect("token account");
        let withheld = state
            .get_extension::<transfer_fee::TransferFeeAmount>()
            .map(|f| u64::from(f.withheld_amount))
            .unwrap_or(0);
        (state.base.amount, withheld)
    }

    /// Withheld transfer fees sitting in a Token-2022 account (0 elsewhere).
    pub async fn withheld(&mut self, address: &Pubkey) -> u64 {
        use spl_token_2022::extension::BaseStateWithExtensions;
        match self.account(address).await {
            Some(a) if a.owner == spl_token_2022::ID => {
                let state = StateWithExtensions::<TokenAccountState>::unpack(&a.data)
                    .expect("token account");
                state
                    .get_extension::<transfer_fee::TransferFeeAmount>()
                    .map(|f| u64::from(f.withheld_amount))
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }

    pub async fn fetch<T: AccountDeserialize>(&mut self, address: &Pubkey) -> T {
        let a = self.account(address).await.expect("account exists");
        T::try_deserialize(&mut a.data.as_slice()).expect("decodes")
    }

    pub async fn payment(&mut self, address: &Pubkey) -> Payment {
        self.fetch(address).await
    }

    pub async fn vault_open(&mut self, mint: &MintRef) {
        let payer = self.payer();
        let ix = self.p.vault_open(&payer.pubkey(), mint).expect("builds");
        self.send(&[ix], &[]).await.expect("vault_open");
        // Fee receiver's account for this mint.
        let fee_receiver = self.fee_receiver.pubkey();
        self.fund(mint, &fee_receiver, 0).await;
    }

    pub fn vault(&self, mint: &MintRef) -> Pubkey {
        pda::vault(&self.p.program_id, &mint.mint).0
    }

    /// Registers and KYB-approves a merchant settling in `mint` to its own wallet.
    pub async fn merchant(
        &mut self,
        mint: &MintRef,
        policy: MerchantPolicy,
    ) -> (Keypair, MerchantFixture) {
        let authority = self.wallet().await;
        let (ix, address) = self
            .p
            .merchant_register(&authority.pubkey(), &mint.mint, &authority.pubkey(), policy)
            .expect("builds");
        self.send(&[ix], &[&authority]).await.expect("register");
        let compliance = self.compliance.insecure_clone();
        let ix = self
            .p
            .merchant_kyb_attest(&compliance.pubkey(), &address, [0xAB; 32])
            .expect("builds");
        self.send(&[ix], &[&compliance]).await.expect("kyb");
        self.fund(mint, &authority.pubkey(), 0).await;
        let fixture = MerchantFixture {
            authority: authority.pubkey(),
            address,
            mint: *mint,
        };
        (authority, fixture)
    }

    /// Opens an invoice of `amount`, expiring in a day; returns the payment address.
    pub async fn invoice(
        &mut self,
        m: &MerchantFixture,
        signer: &Keypair,
        order: &str,
        amount: u64,
    ) -> Pubkey {
        let expires_at = self.now().await + DAY;
        let (ix, payment) = self
            .p
            .invoice_open(
                &signer.pubkey(),
                &m.address,
                &OrderId::new(order).expect("order id"),
                amount,
                expires_at,
            )
            .expect("builds");
        self.send(&[ix], &[signer]).await.expect("invoice_open");
        payment
    }

    /// A funded payer pays `payment`.
    pub async fn pay(
        &mut self,
        m: &MerchantFixture,
        payment: &Pubkey,
        payer: &Keypair,
    ) -> Result<Landed, BanksClientError> {
        let ix = self
            .p
            .payment_pay(&payer.pubkey(), &m.address, payment, &m.mint, None)
            .expect("builds");
        self.send(&[ix], &[payer]).await
    }

    pub fn settlement(
        &self,
        m: &MerchantFixture,
        payment: &Pubkey,
        assignee: Option<Pubkey>,
    ) -> SettlementRefs {
        SettlementRefs {
            merchant: m.address,
            payment: *payment,
            mint: m.mint,
            fee_receiver: self.fee_receiver.pubkey(),
            settlement_wallet: m.authority,
            assignee,
        }
    }

    pub fn release(&self, m: &MerchantFixture, payment: &Pubkey, payer: &Pubkey) -> ReleaseRefs {
        ReleaseRefs {
            payment: *payment,
            mint: m.mint,
            payer: *payer,
        }
    }
}
