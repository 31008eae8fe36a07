//! Pay-in-any-stablecoin: `pay_with_conversion` through kassa_convert's StableSwap pools, the
//! pool's own instructions, and hooks that misbehave.

use crate::harness::*;
use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_spl::token_2022::spl_token_2022::{self, extension::StateWithExtensions};
use kassa_convert::{
    error::ConvertError as C,
    instructions::{PoolCreateArgs, PoolSettingsArgs},
};
use kassa_hook_interface::BuyExactOutArgs;
use kassa_payments::{
    error::PaymentsError as E, instructions::ConfigUpdateArgs, state::PaymentStatus,
};
use kassa_sdk::{
    convert::{Convert, PoolRef},
    decode::PaymentsEvent,
    payments::MintRef,
};
use solana_sdk::{
    instruction::{Instruction, InstructionError},
    signature::{Keypair, Signer},
};

const COIN6: u64 = 1_000_000;
const COIN9: u64 = 1_000_000_000;

/// The conversion world: USDC against three other coins, each in a pool of 1M a side.
struct Market {
    c: Convert,
    usdc: MintRef,
    usdt: MintRef,
    pyusd: MintRef,
    usd9: MintRef,
    pools: Vec<PoolRef>,
    lp: Keypair,
}

/// USDC settles; USDT (SPL), a PYUSD-like Token-2022 coin with a 0.1 % transfer fee and a
/// 9-decimal coin each trade against it in a pool of 1M a side.
async fn market(extra: impl FnOnce(&mut solana_program_test::ProgramTest)) -> Env<Market> {
    let mut env = Env::with_programs(extra).await;
    let usdc = env.mint(anchor_spl::token::ID, 6, None, None).await;
    let usdt = env.mint(anchor_spl::token::ID, 6, None, None).await;
    let pyusd = env
        .mint(anchor_spl::token_2022::ID, 6, Some((10, 5 * COIN6)), None)
        .await;
    let usd9 = env.mint(anchor_spl::token::ID, 9, None, None).await;
    env.vault_open(&usdc).await;
    let c = Convert::default();
    let lp = env.wallet().await;
    let admin = env.admin.insecure_clone();
    let mut pools = Vec::new();
    for other in [usdt, pyusd, usd9] {
        let pool = c.pool(usdc, other);
        let ix = c
            .pool_create(
                &admin.pubkey(),
                &pool,
                PoolCreateArgs {
                    amp: 200,
                    trade_fee_bps: 4,
                    protocol_share_bps: 5_000,
                    fee_receiver: env.fee_receiver.pubkey(),
                },
            )
            .unwrap();
        env.send(&[ix], &[&admin]).await.expect("pool_create");
        let depth = |m: &MintRef| {
            if m.mint == usd9.mint {
                1_000_000 * COIN9
            } else {
                1_000_000 * COIN6
            }
        };
        env.fund(&pool.a, &lp.pubkey(), depth(&pool.a) * 2).await;
        env.fund(&pool.b, &lp.pubkey(), depth(&pool.b) * 2).await;
        env.fund(
            &MintRef {
                mint: c.lp_mint(&pool),
                token_program: anchor_spl::token::ID,
            },
            &lp.pubkey(),
            0,
        )
        .await;
        let ix = c
            .pool_add_liquidity(&lp.pubkey(), &pool, depth(&pool.a), depth(&pool.b), 1)
            .unwrap();
        env.send(&[ix], &[&lp]).await.expect("seed liquidity");
        pools.push(pool);
    }
    // Register the pools' program as a conversion hook.
    let ix = env
        .p
        .config_update(
            &admin.pubkey(),
            ConfigUpdateArgs {
                hooks: Some(vec![c.program_id]),
                ..Default::default()
            },
        )
        .unwrap();
    env.send(&[ix], &[&admin]).await.unwrap();
    env.with(Market {
        c,
        usdc,
        usdt,
        pyusd,
        usd9,
        pools,
        lp,
    })
}

impl Env<Market> {
    fn pool_with(&self, input: &MintRef) -> PoolRef {
        *self
            .w
            .pools
            .iter()
            .find(|p| p.a.mint == input.mint || p.b.mint == input.mint)
            .expect("pool")
    }

    fn pay_ix(
        &self,
        m: &MerchantFixture,
        payment: &Pubkey,
        payer: &Pubkey,
        input: &MintRef,
        max_in: u64,
    ) -> Instruction {
        let pool = self.pool_with(input);
        let escrow = self.vault(&{ self.w.usdc });
        let hook = self
            .w
            .c
            .hook_accounts(&pool, payer, &input.mint, &escrow)
            .unwrap();
        self.p
            .payment_pay_with_conversion(
                payer,
                &m.address,
                payment,
                &{ self.w.usdc },
                input,
                self.w.c.program_id,
                hook,
                None,
                max_in,
            )
            .unwrap()
    }
}

#[tokio::test]
async fn a_usdc_invoice_is_paid_with_usdt_pyusd_and_a_9_decimal_coin() {
    let mut mk = market(|_| ()).await;
    let (authority, m) = mk.merchant(&{ mk.w.usdc }, policy()).await;
    let escrow = mk.vault(&{ mk.w.usdc });
    for (i, (input, unit)) in [(mk.w.usdt, COIN6), (mk.w.pyusd, COIN6), (mk.w.usd9, COIN9)]
        .into_iter()
        .enumerate()
    {
        let payer = mk.wallet().await;
        mk.fund(&input, &payer.pubkey(), 100 * unit).await;
        let payment = mk
            .invoice(&m, &authority, &format!("CONV-{i}"), 25 * COIN6)
            .await;
        let escrow_before = mk.balance(&escrow).await;
        // Spending cap: 25.1 coins of the input for 25 USDC.
        let max_in = 25 * unit + unit / 10;
        let ix = mk.pay_ix(&m, &payment, &payer.pubkey(), &input, max_in);
        let size = crate::footprint::wire_size(std::slice::from_ref(&ix), &[&payer]);
        assert!(size <= 1_232, "pay_with_conversion is {size} bytes");
        let landed = mk
            .send(&[ix], &[&payer])
            .await
            .expect("pay_with_conversion");
        if std::env::var("KASSA_FOOTPRINT").is_ok() {
            let units = crate::footprint::token_units(&landed.logs);
            println!("pay_with_conversion input #{i}: {size} bytes, token CU {units}");
        }

        // Exactly the invoice arrived in escrow; the payer spent at most the cap.
        assert_eq!(mk.balance(&escrow).await - escrow_before, 25 * COIN6);
        let spent = 100 * unit - mk.balance(&input.ata(&payer.pubkey())).await;
        assert!(spent <= max_in && spent >= 25 * unit, "spent {spent}");
        let names: Vec<_> = landed.events.iter().map(|e| e.name()).collect();
        assert_eq!(names, ["PaymentConverted", "PaymentAuthorized"]);
        // The pool reports the same trade from its side.
        let [kassa_sdk::decode::ConvertEvent::Swapped(swap)] = landed.convert_events.as_slice()
        else {
            panic!("one Swapped event expected: {:?}", landed.convert_events)
        };
        assert_eq!(swap.kind, kassa_convert::events::SwapKind::Hook);
        assert_eq!((swap.amount_in, swap.mint_out), (spent, mk.w.usdc.mint));
        let PaymentsEvent::PaymentConverted(ev) = &landed.events[0] else {
            unreachable!()
        };
        assert_eq!(
            (ev.input_mint, ev.input_amount, ev.output_amount),
            (input.mint, spent, 25 * COIN6)
        );
        assert_eq!(
            (ev.hook, ev.pool),
            (mk.w.c.program_id, mk.pool_with(&input).address)
        );
        let p = mk.payment(&payment).await;
        assert_eq!(
            (p.status, p.authorized, p.payer),
            (PaymentStatus::Authorized, 25 * COIN6, payer.pubkey())
        );
    }
    // And the escrow settles as any other payment.
    let payment = kassa_sdk::pda::payment(
        &mk.p.program_id,
        &m.address,
        kassa_sdk::payments::OrderId::new("CONV-0")
            .unwrap()
            .as_bytes(),
    )
    .0;
    let ix =
        mk.p.payment_capture(&m.authority, &mk.settlement(&m, &payment, None), 25 * COIN6)
            .unwrap();
    mk.send(&[ix], &[&authority])
        .await
        .expect("capture a converted payment");
}

#[tokio::test]
async fn slippage_pause_registry_and_account_order_refuse_and_move_nothing() {
    let mut mk = market(|_| ()).await;
    let (authority, m) = mk.merchant(&{ mk.w.usdc }, policy()).await;
    let payer = mk.wallet().await;
    mk.fund(&{ mk.w.usdt }, &payer.pubkey(), 100 * COIN6).await;
    let payment = mk.invoice(&m, &authority, "SLIP-1", 25 * COIN6).await;
    let escrow = mk.vault(&{ mk.w.usdc });
    let usdt = mk.w.usdt;
    let before = (
        mk.balance(&escrow).await,
        mk.balance(&usdt.ata(&payer.pubkey())).await,
    );

    // Slippage: a cap below the price.
    let ix = mk.pay_ix(&m, &payment, &payer.pubkey(), &usdt, 24 * COIN6);
    assert_code(mk.send(&[ix], &[&payer]).await, code(C::MaximumInExceeded));

    // Accounts out of order: payments checks the routing of the payer's money, the hook its own
    // vaults; each names the problem.
    let hook_start = mk
        .pay_ix(&m, &payment, &payer.pubkey(), &usdt, 26 * COIN6)
        .accounts
        .len()
        - 12;
    let mut ix = mk.pay_ix(&m, &payment, &payer.pubkey(), &usdt, 26 * COIN6);
    ix.accounts.swap(hook_start + 3, hook_start + 4);
    assert_code(
        mk.send(&[ix], &[&payer]).await,
        code(E::HookAccountsMismatch),
    );
    let mut ix = mk.pay_ix(&m, &payment, &payer.pubkey(), &usdt, 26 * COIN6);
    ix.accounts.swap(hook_start + 1, hook_start + 2);
    assert_code(mk.send(&[ix], &[&payer]).await, code(C::HookAccountOrder));

    // A paused pool.
    let admin = mk.admin.insecure_clone();
    let pool = mk.pool_with(&usdt);
    let pause =
        mk.w.c
            .pool_update_settings(
                &admin.pubkey(),
                &pool,
                PoolSettingsArgs {
                    paused: Some(true),
                    ..Default::default()
                },
            )
            .unwrap();
    mk.send(&[pause], &[&admin]).await.unwrap();
    let ix = mk.pay_ix(&m, &payment, &payer.pubkey(), &usdt, 26 * COIN6);
    assert_code(mk.send(&[ix], &[&payer]).await, code(C::PoolPaused));
    let resume =
        mk.w.c
            .pool_update_settings(
                &admin.pubkey(),
                &pool,
                PoolSettingsArgs {
                    paused: Some(false),
                    ..Default::default()
                },
            )
            .unwrap();
    mk.send(&[resume], &[&admin]).await.unwrap();

    // An unregistered hook program.
    let ix =
        mk.p.config_update(
            &admin.pubkey(),
            ConfigUpdateArgs {
                hooks: Some(vec![]),
                ..Default::default()
            },
        )
        .unwrap();
    mk.send(&[ix], &[&admin]).await.unwrap();
    let ix = mk.pay_ix(&m, &payment, &payer.pubkey(), &usdt, 26 * COIN6);
    assert_code(mk.send(&[ix], &[&payer]).await, code(E::HookNotRegistered));

    assert_eq!(
        before,
        (
            mk.balance(&escrow).await,
            mk.balance(&usdt.ata(&payer.pubkey())).await
        )
    );
    assert_eq!(mk.payment(&payment).await.status, PaymentStatus::Open);
}

#[tokio::test]
async fn pool_swaps_liquidity_ramp_and_fees() {
    let mut mk = market(|_| ()).await;
    let pool = mk.pool_with(&{ mk.w.usdt });
    let trader = mk.wallet().await;
    mk.fund(&pool.a, &trader.pubkey(), 1_000 * COIN6).await;
    mk.fund(&pool.b, &trader.pubkey(), 1_000 * COIN6).await;
    let c = mk.w.c;
    // Exact in with a minimum, exact out with a maximum.
    let ix = c
        .pool_swap_exact_in(
            &trader.pubkey(),
            &pool,
            &pool.a.mint,
            100 * COIN6,
            101 * COIN6,
        )
        .unwrap();
    assert_code(mk.send(&[ix], &[&trader]).await, code(C::MinimumOutNotMet));
    let ix = c
        .pool_swap_exact_in(
            &trader.pubkey(),
            &pool,
            &pool.a.mint,
            100 * COIN6,
            99 * COIN6,
        )
        .unwrap();
    mk.send(&[ix], &[&trader]).await.unwrap();
    let got = mk.balance(&pool.b.ata(&trader.pubkey())).await - 1_000 * COIN6;
    assert!((99_900_000..100 * COIN6).contains(&got), "got {got}");
    let ix = c
        .pool_swap_exact_out(
            &trader.pubkey(),
            &pool,
            &pool.b.mint,
            50 * COIN6,
            49 * COIN6,
        )
        .unwrap();
    assert_code(mk.send(&[ix], &[&trader]).await, code(C::MaximumInExceeded));
    let ix = c
        .pool_swap_exact_out(
            &trader.pubkey(),
            &pool,
            &pool.b.mint,
            50 * COIN6,
            51 * COIN6,
        )
        .unwrap();
    mk.send(&[ix], &[&trader]).await.unwrap();

    // Withdraw with minimums; an LP minimum that cannot be met.
    let lp = mk.w.lp.insecure_clone();
    let ix = c
        .pool_add_liquidity(&lp.pubkey(), &pool, COIN6, COIN6, u64::MAX)
        .unwrap();
    assert_code(mk.send(&[ix], &[&lp]).await, code(C::MinimumLpNotMet));
    let ix = c
        .pool_remove_liquidity(&lp.pubkey(), &pool, 1_000 * COIN6, 2_000 * COIN6, 0)
        .unwrap();
    assert_code(
        mk.send(&[ix], &[&lp]).await,
        code(C::MinimumWithdrawalNotMet),
    );
    let ix = c
        .pool_remove_liquidity(&lp.pubkey(), &pool, 1_000 * COIN6, 400 * COIN6, 400 * COIN6)
        .unwrap();
    mk.send(&[ix], &[&lp]).await.unwrap();

    // Ramp bounds: too fast, too far, by a stranger; then a valid ramp reaches its target.
    let admin = mk.admin.insecure_clone();
    let now = mk.now().await;
    let ix = c
        .pool_ramp_amp(&admin.pubkey(), &pool, 400, now + 3_600)
        .unwrap();
    assert_code(mk.send(&[ix], &[&admin]).await, code(C::InvalidRamp));
    let ix = c
        .pool_ramp_amp(&admin.pubkey(), &pool, 200 * 11, now + 2 * DAY)
        .unwrap();
    assert_code(mk.send(&[ix], &[&admin]).await, code(C::InvalidRamp));
    let ix = c
        .pool_ramp_amp(&trader.pubkey(), &pool, 400, now + 2 * DAY)
        .unwrap();
    assert_code(mk.send(&[ix], &[&trader]).await, code(C::NotPoolAdmin));
    let ix = c
        .pool_ramp_amp(&admin.pubkey(), &pool, 400, now + 2 * DAY)
        .unwrap();
    mk.send(&[ix], &[&admin]).await.unwrap();
    mk.warp(DAY).await;
    let state: kassa_convert::state::Pool = mk.fetch(&pool.address).await;
    assert_eq!(state.amp(mk.now().await), 300);

    // Protocol fees accrued by the swaps are swept once.
    let cranker = mk.wallet().await;
    let receiver = mk.fee_receiver.pubkey();
    mk.fund(&pool.a, &receiver, 0).await;
    mk.fund(&pool.b, &receiver, 0).await;
    let accrued = state.protocol_fees_a + state.protocol_fees_b;
    assert!(accrued > 0);
    let ix = c
        .pool_withdraw_protocol_fees(&cranker.pubkey(), &pool, &receiver)
        .unwrap();
    mk.send(&[ix.clone()], &[&cranker]).await.unwrap();
    let swept = mk.balance(&pool.a.ata(&receiver)).await + mk.balance(&pool.b.ata(&receiver)).await;
    assert_eq!(swept, accrued);
    mk.send(&[ix], &[&cranker]).await.unwrap();
    let again = mk.balance(&pool.a.ata(&receiver)).await + mk.balance(&pool.b.ata(&receiver)).await;
    assert_eq!(again, accrued, "a second sweep pays nothing");

    // Audit 9: once PYUSD's fee authority schedules a fee above the cap, its pool swaps nothing.
    let taxed = mk.pool_with(&{ mk.w.pyusd });
    mk.fund(&taxed.a, &trader.pubkey(), 10 * COIN6).await;
    mk.fund(&taxed.b, &trader.pubkey(), 0).await;
    mk.set_transfer_fee(&{ mk.w.pyusd }, 5_000, u64::MAX).await;
    let ix = c
        .pool_swap_exact_in(&trader.pubkey(), &taxed, &taxed.a.mint, COIN6, 0)
        .unwrap();
    assert_err(mk.send(&[ix], &[&trader]).await, C::TransferFeeAboveCap);
}

#[tokio::test]
async fn pool_creation_rejects_bad_pairs() {
    let mut env = Env::new().await;
    let c = Convert::default();
    let admin = env.admin.insecure_clone();
    let x = env.mint(anchor_spl::token::ID, 6, None, None).await;
    let y = env.mint(anchor_spl::token::ID, 6, None, None).await;
    let far = env.mint(anchor_spl::token::ID, 18, None, None).await;
    let args = |amp| PoolCreateArgs {
        amp,
        trade_fee_bps: 4,
        protocol_share_bps: 0,
        fee_receiver: admin.pubkey(),
    };
    let same = PoolRef {
        address: kassa_sdk::pda::convert::pool(&c.program_id, &x.mint, &x.mint).0,
        a: x,
        b: x,
    };
    let ix = c.pool_create(&admin.pubkey(), &same, args(100)).unwrap();
    assert_err(env.send(&[ix], &[&admin]).await, C::IdenticalMints);
    let sorted = c.pool(x, y);
    // The pool of the pair in the other order, at the address that order gives it.
    let reversed = PoolRef {
        address: solana_sdk::pubkey::Pubkey::find_program_address(
            &[
                kassa_convert::constants::POOL_SEED,
                sorted.b.mint.as_ref(),
                sorted.a.mint.as_ref(),
            ],
            &c.program_id,
        )
        .0,
        a: sorted.b,
        b: sorted.a,
    };
    let ix = c
        .pool_create(&admin.pubkey(), &reversed, args(100))
        .unwrap();
    assert_err(env.send(&[ix], &[&admin]).await, C::MintsNotSorted);
    let ix = c
        .pool_create(&admin.pubkey(), &c.pool(x, far), args(100))
        .unwrap();
    assert_code(
        env.send(&[ix], &[&admin]).await,
        code(C::DecimalsTooFarApart),
    );
    let ix = c.pool_create(&admin.pubkey(), &sorted, args(0)).unwrap();
    assert_code(env.send(&[ix], &[&admin]).await, code(C::AmpOutOfBounds));
    // A mint whose permanent delegate could drain the vault.
    let drainable = env
        .mint(anchor_spl::token_2022::ID, 6, None, Some(admin.pubkey()))
        .await;
    let ix = c
        .pool_create(&admin.pubkey(), &c.pool(x, drainable), args(100))
        .unwrap();
    assert_code(
        env.send(&[ix], &[&admin]).await,
        code(C::UnsupportedMintExtension),
    );
    // Audit 9: pausable, closable and over-taxed mints are refused too.
    let someone = Keypair::new().pubkey();
    for (feature, err) in [
        (MintFeature::Pausable(someone), C::UnsupportedMintExtension),
        (
            MintFeature::CloseAuthority(someone),
            C::UnsupportedMintExtension,
        ),
        (
            MintFeature::TransferFee(101, u64::MAX),
            C::TransferFeeAboveCap,
        ),
    ] {
        let bad = env
            .mint_with(anchor_spl::token_2022::ID, 6, &[feature])
            .await;
        let ix = c
            .pool_create(&admin.pubkey(), &c.pool(x, bad), args(100))
            .unwrap();
        assert_err(env.send(&[ix], &[&admin]).await, err);
    }
    let ix = c.pool_create(&admin.pubkey(), &sorted, args(100)).unwrap();
    env.send(&[ix], &[&admin]).await.unwrap();
    // A first deposit needs both coins; zero amounts are refused.
    let lp = env.wallet().await;
    env.fund(&x, &lp.pubkey(), 10 * COIN6).await;
    env.fund(&y, &lp.pubkey(), 10 * COIN6).await;
    env.fund(
        &MintRef {
            mint: c.lp_mint(&sorted),
            token_program: anchor_spl::token::ID,
        },
        &lp.pubkey(),
        0,
    )
    .await;
    let ix = c
        .pool_add_liquidity(&lp.pubkey(), &sorted, COIN6, 1, 0)
        .unwrap();
    let mut one_sided = ix.clone();
    one_sided.data =
        anchor_lang::InstructionData::data(&kassa_convert::instruction::PoolAddLiquidity {
            amount_a: COIN6,
            amount_b: 0,
            min_lp: 0,
        });
    assert_code(env.send(&[one_sided], &[&lp]).await, code(C::EmptyReserve));
    let mut zero = ix;
    zero.data = anchor_lang::InstructionData::data(&kassa_convert::instruction::PoolAddLiquidity {
        amount_a: 0,
        amount_b: 0,
        min_lp: 0,
    });
    assert_code(env.send(&[zero], &[&lp]).await, code(C::ZeroAmount));
}

// ---- Hooks that misbehave, as native test programs ------------------------------------------

const SHORT: Pubkey = Pubkey::new_from_array([0x51; 32]);
const GREEDY: Pubkey = Pubkey::new_from_array([0x52; 32]);
const REENTRANT: Pubkey = Pubkey::new_from_array([0x53; 32]);
const TAMPER: Pubkey = Pubkey::new_from_array([0x54; 32]);
const SIPHON: Pubkey = Pubkey::new_from_array([0x55; 32]);
const BORROW: Pubkey = Pubkey::new_from_array([0x56; 32]);

fn decimals(mint: &AccountInfo) -> Result<u8, anchor_lang::prelude::ProgramError> {
    let data = mint.try_borrow_data()?;
    Ok(
        StateWithExtensions::<spl_token_2022::state::Mint>::unpack(&data)?
            .base
            .decimals,
    )
}

/// A hook that keeps its own vaults (owned by its PDA `["evil"]`) and cheats according to its
/// program id: SHORT delivers one unit less, GREEDY takes one unit more than `max_in`,
/// REENTRANT calls back into kassa_payments, TAMPER delegates the payer's account to itself,
/// SIPHON moves the payer's SOL and BORROW the SOL of a co-signer passed as an extra account.
fn evil_hook(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> anchor_lang::solana_program::entrypoint::ProgramResult {
    use anchor_lang::solana_program::program::{invoke, invoke_signed};
    let args = BuyExactOutArgs::parse(data)
        .ok_or(anchor_lang::prelude::ProgramError::InvalidInstructionData)?;
    let [pool, vault_in, vault_out, source, destination, payer, mint_in, mint_out, tp_in, tp_out, rest @ ..] =
        accounts
    else {
        return Err(anchor_lang::prelude::ProgramError::NotEnoughAccountKeys);
    };
    let (_, bump) = Pubkey::find_program_address(&[b"evil"], program_id);
    let take = if *program_id == GREEDY {
        args.max_in + 1
    } else {
        args.max_in
    };
    let give = if *program_id == SHORT {
        args.amount_out - 1
    } else {
        args.amount_out
    };
    let ix = spl_token_2022::instruction::transfer_checked(
        tp_in.key,
        source.key,
        mint_in.key,
        vault_in.key,
        payer.key,
        &[],
        take,
        decimals(mint_in)?,
    )?;
    invoke(
        &ix,
        &[
            source.clone(),
            mint_in.clone(),
            vault_in.clone(),
            payer.clone(),
            tp_in.clone(),
        ],
    )?;
    let ix = spl_token_2022::instruction::transfer_checked(
        tp_out.key,
        vault_out.key,
        mint_out.key,
        destination.key,
        pool.key,
        &[],
        give,
        decimals(mint_out)?,
    )?;
    invoke_signed(
        &ix,
        &[
            vault_out.clone(),
            mint_out.clone(),
            destination.clone(),
            pool.clone(),
            tp_out.clone(),
        ],
        &[&[b"evil", &[bump]]],
    )?;
    if *program_id == TAMPER {
        // Delivers honestly, then leaves itself a delegation over the payer's account.
        let ix = spl_token_2022::instruction::approve(
            tp_in.key,
            source.key,
            pool.key,
            payer.key,
            &[],
            u64::MAX,
        )?;
        invoke(
            &ix,
            &[source.clone(), pool.clone(), payer.clone(), tp_in.clone()],
        )?;
    }
    if *program_id == SIPHON || *program_id == BORROW {
        // Delivers honestly, then spends a signer's lamports (the payer's, or the first extra's).
        // rest: [system program] for SIPHON, [co-signer, system program] for BORROW.
        let (victim, system) = if *program_id == SIPHON {
            (payer, &rest[0])
        } else {
            (&rest[0], &rest[1])
        };
        let ix =
            solana_system_interface::instruction::transfer(victim.key, pool.key, 1_000_000_000);
        invoke(&ix, &[victim.clone(), pool.clone(), system.clone()])?;
    }
    if *program_id == REENTRANT {
        // rest: [kassa_payments, payment, event authority]
        let ix = kassa_sdk::payments::Payments::default()
            .invoice_expire(payer.key, rest[1].key)
            .map_err(|_| anchor_lang::prelude::ProgramError::InvalidArgument)?;
        invoke(
            &ix,
            &[
                payer.clone(),
                rest[1].clone(),
                rest[2].clone(),
                rest[0].clone(),
            ],
        )?;
    }
    Ok(())
}

#[tokio::test]
async fn malicious_hooks_are_refused() {
    let mut mk = market(|pt| {
        for (name, id) in [
            ("short_hook", SHORT),
            ("greedy_hook", GREEDY),
            ("reentrant_hook", REENTRANT),
            ("tamper_hook", TAMPER),
            ("siphon_hook", SIPHON),
            ("borrow_hook", BORROW),
        ] {
            pt.add_program(name, id, solana_program_test::processor!(evil_hook));
        }
    })
    .await;
    let admin = mk.admin.insecure_clone();
    let compliance = mk.compliance.insecure_clone();
    let (authority, m) = mk.merchant(&{ mk.w.usdc }, policy()).await;
    let payer = mk.wallet().await;
    let (usdc, usdt) = (mk.w.usdc, mk.w.usdt);
    mk.fund(&usdt, &payer.pubkey(), 100 * COIN6).await;
    let escrow = mk.vault(&usdc);
    let payment = mk.invoice(&m, &authority, "EVIL-1", 10 * COIN6).await;

    // Audit 10: SIPHON and BORROW would have spent a signer's SOL when the hook was called
    // with the caller's privileges; the runtime now refuses the escalation. A cluster reports
    // PrivilegeEscalation; solana-program-test's native CPI stub panics on it, which surfaces
    // as ProgramFailedToComplete. Before the fix both payments landed.
    let escalation = Some(InstructionError::PrivilegeEscalation);
    for (hook, expected, runtime) in [
        (SHORT, Some(code(E::ConversionShortfall)), None),
        (GREEDY, Some(code(E::ConversionOverspent)), None),
        (TAMPER, Some(code(E::PayerAccountTampered)), None),
        (REENTRANT, None, None),
        (SIPHON, None, escalation.clone()),
        (BORROW, None, escalation.clone()),
    ] {
        // One registered hook at a time (the registry holds four).
        let ix =
            mk.p.config_update(
                &admin.pubkey(),
                ConfigUpdateArgs {
                    hooks: Some(vec![hook]),
                    ..Default::default()
                },
            )
            .unwrap();
        mk.send(&[ix], &[&admin]).await.unwrap();
        let evil = Pubkey::find_program_address(&[b"evil"], &hook).0;
        let vault_in = mk.fund(&usdt, &evil, 0).await;
        let vault_out = mk.fund(&usdc, &evil, 1_000 * COIN6).await;
        let mut metas = kassa_hook_interface::HookAccounts {
            pool: evil,
            vault_in,
            vault_out,
            payer_source: usdt.ata(&payer.pubkey()),
            destination: escrow,
            payer_authority: payer.pubkey(),
            mint_in: usdt.mint,
            mint_out: usdc.mint,
            token_program_in: usdt.token_program,
            token_program_out: usdc.token_program,
        }
        .metas();
        let mut cosigner = false;
        if hook == SIPHON {
            // As a hook's account list can ask (and as the runtime sees the payer, writable
            // in the payment's own accounts).
            use anchor_lang::solana_program::instruction::AccountMeta;
            metas[5].is_writable = true;
            metas.push(AccountMeta::new_readonly(
                solana_system_interface::program::ID,
                false,
            ));
        }
        if hook == BORROW {
            // A co-signer of the transaction, handed to the hook as a writable signer extra.
            use anchor_lang::solana_program::instruction::AccountMeta;
            metas.push(AccountMeta::new(compliance.pubkey(), true));
            metas.push(AccountMeta::new_readonly(
                solana_system_interface::program::ID,
                false,
            ));
            cosigner = true;
        }
        if hook == REENTRANT {
            use anchor_lang::solana_program::instruction::AccountMeta;
            metas.push(AccountMeta::new_readonly(mk.p.program_id, false));
            metas.push(AccountMeta::new(payment, false));
            metas.push(AccountMeta::new_readonly(
                kassa_sdk::pda::event_authority(&mk.p.program_id).0,
                false,
            ));
        }
        let ix =
            mk.p.payment_pay_with_conversion(
                &payer.pubkey(),
                &m.address,
                &payment,
                &usdc,
                &usdt,
                hook,
                metas,
                None,
                11 * COIN6,
            )
            .unwrap();
        let before = (
            mk.balance(&escrow).await,
            mk.balance(&usdt.ata(&payer.pubkey())).await,
            mk.lamports(&payer.pubkey()).await,
            mk.lamports(&compliance.pubkey()).await,
        );
        let result = if cosigner {
            mk.send(&[ix], &[&payer, &compliance]).await
        } else {
            mk.send(&[ix], &[&payer]).await
        };
        match (expected, runtime) {
            (Some(code), _) => assert_code(result, code),
            (None, Some(runtime)) => {
                let err = result.expect_err("the hook must not spend a signer's SOL");
                let got = instruction_error(&err);
                assert!(
                    got == Some(runtime) || got == Some(InstructionError::ProgramFailedToComplete),
                    "{err:?}"
                );
            }
            (None, None) => {
                // The runtime refuses the call back into kassa_payments. A cluster reports
                // ReentrancyNotAllowed; solana-program-test's native CPI stub panics on it,
                // which surfaces as ProgramFailedToComplete.
                let err = result.expect_err("re-entry must fail");
                assert!(
                    matches!(
                        instruction_error(&err),
                        Some(
                            InstructionError::ReentrancyNotAllowed
                                | InstructionError::ProgramFailedToComplete
                        )
                    ),
                    "{err:?}"
                );
            }
        }
        // Nothing moved but the transaction fee the payer (the fee payer) was charged.
        let after = (
            mk.balance(&escrow).await,
            mk.balance(&usdt.ata(&payer.pubkey())).await,
            mk.lamports(&payer.pubkey()).await,
            mk.lamports(&compliance.pubkey()).await,
        );
        assert_eq!((before.0, before.1, before.3), (after.0, after.1, after.3));
        assert!(before.2 - after.2 < 1_000_000, "{hook}: payer lost SOL");
    }
    assert_eq!(mk.payment(&payment).await.status, PaymentStatus::Open);
}

/// Audit 6: LP tokens are priced from the pool's own count: the first provider burning almost
/// all of its LP tokens cannot make the next provider's deposit worth less.
#[tokio::test]
async fn burning_lp_tokens_does_not_move_their_price() {
    let mut env = Env::new().await;
    let c = Convert::default();
    let admin = env.admin.insecure_clone();
    let x = env.mint(anchor_spl::token::ID, 6, None, None).await;
    let y = env.mint(anchor_spl::token::ID, 6, None, None).await;
    let pool = c.pool(x, y);
    let ix = c
        .pool_create(
            &admin.pubkey(),
            &pool,
            PoolCreateArgs {
                amp: 100,
                trade_fee_bps: 4,
                protocol_share_bps: 5_000,
                fee_receiver: env.fee_receiver.pubkey(),
            },
        )
        .unwrap();
    env.send(&[ix], &[&admin]).await.unwrap();
    let lp = MintRef {
        mint: c.lp_mint(&pool),
        token_program: anchor_spl::token::ID,
    };
    let mut providers = Vec::new();
    for _ in 0..2 {
        let k = env.wallet().await;
        env.fund(&pool.a, &k.pubkey(), 1_000 * COIN6).await;
        env.fund(&pool.b, &k.pubkey(), 1_000 * COIN6).await;
        env.fund(&lp, &k.pubkey(), 0).await;
        providers.push(k);
    }
    let add = |k: &Keypair| {
        c.pool_add_liquidity(&k.pubkey(), &pool, 1_000 * COIN6, 1_000 * COIN6, 1)
            .unwrap()
    };
    env.send(&[add(&providers[0])], &[&providers[0]])
        .await
        .unwrap();
    let minted = env.balance(&lp.ata(&providers[0].pubkey())).await;
    env.burn(&lp, &providers[0], minted - 1).await;
    env.send(&[add(&providers[1])], &[&providers[1]])
        .await
        .unwrap();
    assert_eq!(env.balance(&lp.ata(&providers[1].pubkey())).await, minted);
    // And the second provider takes its whole deposit back out.
    let ix = c
        .pool_remove_liquidity(&providers[1].pubkey(), &pool, minted, 0, 0)
        .unwrap();
    env.send(&[ix], &[&providers[1]]).await.unwrap();
    assert_eq!(
        env.balance(&pool.a.ata(&providers[1].pubkey())).await,
        1_000 * COIN6
    );
    assert_eq!(
        env.balance(&pool.b.ata(&providers[1].pubkey())).await,
        1_000 * COIN6
    );
}

/// A pool, its two vaults and its LP mint are created even when someone sent lamports to
/// their addresses first (anyone can: they are predictable from the pair).
#[tokio::test]
async fn a_pool_is_created_over_prefunded_addresses() {
    let mut env = Env::new().await;
    let c = Convert::default();
    let admin = env.admin.insecure_clone();
    let x = env.mint(anchor_spl::token::ID, 6, None, None).await;
    let y = env.mint(anchor_spl::token_2022::ID, 6, None, None).await;
    let pool = c.pool(x, y);
    let ix = c
        .pool_create(
            &admin.pubkey(),
            &pool,
            PoolCreateArgs {
                amp: 100,
                trade_fee_bps: 4,
                protocol_share_bps: 0,
                fee_receiver: admin.pubkey(),
            },
        )
        .unwrap();
    let funded = env.prefund_created_accounts(&ix, 3_000_000).await;
    assert_eq!(funded.len(), 4, "pool, two vaults, LP mint");
    env.send(&[ix], &[&admin]).await.expect("pool_create");
    let state: kassa_convert::state::Pool = env.fetch(&pool.address).await;
    assert_eq!((state.mint_a, state.mint_b), (pool.a.mint, pool.b.mint));
    for key in &funded[1..] {
        let owner = env.account(key).await.unwrap().owner;
        assert!(owner == anchor_spl::token::ID || owner == anchor_spl::token_2022::ID);
    }
}

/// Every instruction of `kassa_convert`, and `payment_pay_with_conversion` of the payments
/// program, attacked account by account (see `matrix`): unsigned, another type, the wrong
/// owner, someone else's pool, merchant, payment, token account or mint, the other token
/// program, a fake one. Each refusal is the one in `tests/golden/attacks-convert.txt`.
#[tokio::test]
async fn every_conversion_instruction_refuses_every_substituted_account_by_its_rule() {
    use anchor_lang::Discriminator;
    use kassa_payments::state::{Config, Merchant, Payment};
    let mut mk = market(|_| ()).await;
    let (c, usdc, usdt) = (mk.w.c, mk.w.usdc, mk.w.usdt);
    let admin = mk.admin.insecure_clone();
    let lp = mk.w.lp.insecure_clone();
    let pool = mk.pool_with(&usdt);
    let (authority, m) = mk.merchant(&usdc, policy()).await;
    let payment = mk.invoice(&m, &authority, "MATRIX-1", 25 * COIN6).await;
    let (other_authority, other_m) = mk.merchant(&usdc, policy()).await;
    let other_payment = mk
        .invoice(&other_m, &other_authority, "MATRIX-2", 25 * COIN6)
        .await;
    let trader = mk.wallet().await;
    mk.fund(&usdt, &trader.pubkey(), 1_000 * COIN6).await;
    mk.fund(&usdc, &trader.pubkey(), 1_000 * COIN6).await;
    // A swap, so that the pool has protocol fees to withdraw.
    let ix = c
        .pool_swap_exact_in(&trader.pubkey(), &pool, &usdt.mint, 100 * COIN6, 1)
        .unwrap();
    mk.send(&[ix], &[&trader]).await.unwrap();
    let receiver = mk.fee_receiver.pubkey();
    mk.fund(&pool.a, &receiver, 0).await;
    mk.fund(&pool.b, &receiver, 0).await;
    let fresh = mk.mint(anchor_spl::token::ID, 6, None, None).await;
    let new_pool = c.pool(usdc, fresh);
    let now = mk.now().await;
    let cases: Vec<crate::matrix::Case> = vec![
        (
            "pool_create",
            c.pool_create(
                &admin.pubkey(),
                &new_pool,
                PoolCreateArgs {
                    amp: 100,
                    trade_fee_bps: 4,
                    protocol_share_bps: 5_000,
                    fee_receiver: receiver,
                },
            )
            .unwrap(),
            vec![admin.insecure_clone()],
        ),
        (
            "pool_add_liquidity",
            c.pool_add_liquidity(&lp.pubkey(), &pool, 10 * COIN6, 10 * COIN6, 1)
                .unwrap(),
            vec![lp.insecure_clone()],
        ),
        (
            "pool_remove_liquidity",
            c.pool_remove_liquidity(&lp.pubkey(), &pool, COIN6, 0, 0)
                .unwrap(),
            vec![lp.insecure_clone()],
        ),
        (
            "pool_swap_exact_in",
            c.pool_swap_exact_in(&trader.pubkey(), &pool, &usdt.mint, 10 * COIN6, 1)
                .unwrap(),
            vec![trader.insecure_clone()],
        ),
        (
            "pool_swap_exact_out",
            c.pool_swap_exact_out(&trader.pubkey(), &pool, &usdt.mint, 10 * COIN6, 11 * COIN6)
                .unwrap(),
            vec![trader.insecure_clone()],
        ),
        (
            "hook_buy_exact_out",
            c.hook_buy_exact_out(
                &pool,
                &trader.pubkey(),
                &usdt.mint,
                &usdc.ata(&trader.pubkey()),
                BuyExactOutArgs {
                    amount_out: 10 * COIN6,
                    max_in: 11 * COIN6,
                },
            )
            .unwrap(),
            vec![trader.insecure_clone()],
        ),
        (
            "pool_ramp_amp",
            c.pool_ramp_amp(&admin.pubkey(), &pool, 300, now + 2 * DAY)
                .unwrap(),
            vec![admin.insecure_clone()],
        ),
        (
            "pool_update_settings",
            c.pool_update_settings(
                &admin.pubkey(),
                &pool,
                PoolSettingsArgs {
                    trade_fee_bps: Some(5),
                    ..Default::default()
                },
            )
            .unwrap(),
            vec![admin.insecure_clone()],
        ),
        (
            "pool_withdraw_protocol_fees",
            c.pool_withdraw_protocol_fees(&trader.pubkey(), &pool, &receiver)
                .unwrap(),
            vec![trader.insecure_clone()],
        ),
        (
            "payment_pay_with_conversion",
            mk.pay_ix(&m, &payment, &trader.pubkey(), &usdt, 26 * COIN6),
            vec![trader.insecure_clone()],
        ),
    ];
    // pool_stop_ramp needs a ramp under way: its own case, after one starts.
    let ix = c
        .pool_ramp_amp(&admin.pubkey(), &mk.w.pools[2], 300, now + 2 * DAY)
        .unwrap();
    mk.send(&[ix], &[&admin]).await.unwrap();
    let mut cases = cases;
    cases.push((
        "pool_stop_ramp",
        c.pool_stop_ramp(&admin.pubkey(), &mk.w.pools[2]).unwrap(),
        vec![admin.insecure_clone()],
    ));
    crate::matrix::assert_covers(kassa_sdk::programs::KassaProgram::Convert, &cases, &[]);
    fn whose(kind: &'static str, address: &Pubkey, data: &[u8]) -> Pubkey {
        use anchor_lang::AccountDeserialize;
        let mut d = data;
        match kind {
            "Merchant" => Merchant::try_deserialize(&mut d).unwrap().authority,
            "Payment" => Payment::try_deserialize(&mut d).unwrap().merchant,
            // Each pool is its own pair's.
            _ => *address,
        }
    }
    let stranger = mk.wallet().await;
    mk.fund(&usdt, &stranger.pubkey(), 0).await;
    mk.fund(&usdc, &stranger.pubkey(), 0).await;
    let accounts = crate::matrix::Accounts {
        programs: vec![c.program_id, mk.p.program_id],
        types: vec![
            (kassa_convert::state::Pool::DISCRIMINATOR, "Pool"),
            (Config::DISCRIMINATOR, "Config"),
            (Merchant::DISCRIMINATOR, "Merchant"),
            (Payment::DISCRIMINATOR, "Payment"),
        ],
        whose,
        others: [
            (
                "Pool",
                mk.w.pools.iter().map(|p| p.address).collect::<Vec<_>>(),
            ),
            ("Merchant", vec![m.address, other_m.address]),
            ("Payment", vec![payment, other_payment]),
            (
                "TokenAccount",
                vec![
                    usdt.ata(&stranger.pubkey()),
                    usdc.ata(&stranger.pubkey()),
                    usdt.ata(&trader.pubkey()),
                    usdc.ata(&trader.pubkey()),
                ],
            ),
            ("Mint", vec![usdc.mint, usdt.mint, fresh.mint]),
        ]
        .into_iter()
        .collect(),
        stranger: stranger.pubkey(),
        // The provider picks where its coins go; the admin which pool it manages.
        choices: vec![
            ("pool_remove_liquidity", 9),
            ("pool_remove_liquidity", 10),
            ("pool_ramp_amp", 1),
            ("pool_update_settings", 1),
            ("pool_stop_ramp", 1),
            ("hook_buy_exact_out", 4),
        ],
    };
    crate::matrix::run(&mut mk, &accounts, cases, "convert").await;
}
