//! The conversion-hook interface shared by `kassa_payments` (the caller) and any program that
//! converts one token into another for it (`kassa_convert`'s StableSwap pools, an aggregator
//! adapter, an oracle-priced market maker).
//!
//! One instruction: **buy exactly `amount_out` of the output mint, spending at most `max_in` of
//! the input mint.** Its data is [`BUY_EXACT_OUT_DISCRIMINATOR`] followed by the Borsh encoding
//! of [`BuyExactOutArgs`]. Its accounts come in the fixed order of [`HookAccounts`]; a hook may
//! ask for more accounts after them. The caller never trusts the hook: it measures the
//! destination's balance change and the payer's debit itself. See `docs/conversion-hooks.md`.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use anchor_lang::{
    prelude::*,
    solana_program::{
        instruction::{AccountMeta, Instruction},
        program::invoke,
    },
};

/// First 8 bytes of `sha256("kassa:conversion_hook:buy_exact_out")`: the instruction tag every
/// hook recognises. It deliberately differs from Anchor's `global:` namespace so it cannot
/// collide with an ordinary instruction of the hook program.
pub const BUY_EXACT_OUT_DISCRIMINATOR: [u8; 8] = [102, 219, 110, 254, 83, 140, 2, 211];

/// Number of accounts in the fixed part of the account list.
pub const FIXED_ACCOUNTS: usize = 10;

/// Arguments of the hook instruction. Amounts are base units of their mints.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuyExactOutArgs {
    /// Exactly this much of the output mint must arrive in `destination` (before any transfer
    /// fee of the output mint, which the caller accounts for).
    pub amount_out: u64,
    /// At most this much of the input mint may leave `payer_source`.
    pub max_in: u64,
}

impl BuyExactOutArgs {
    /// Instruction data: discriminator, then Borsh.
    pub fn data(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(24);
        data.extend_from_slice(&BUY_EXACT_OUT_DISCRIMINATOR);
        data.extend_from_slice(&self.amount_out.to_le_bytes());
        data.extend_from_slice(&self.max_in.to_le_bytes());
        data
    }

    /// Parses instruction data; `None` when the tag or the length is wrong.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let rest = data.strip_prefix(&BUY_EXACT_OUT_DISCRIMINATOR)?;
        if rest.len() != 16 {
            return None;
        }
        let (out, max) = rest.split_at(8);
        Some(Self {
            amount_out: u64::from_le_bytes(out.try_into().ok()?),
            max_in: u64::from_le_bytes(max.try_into().ok()?),
        })
    }
}

/// The fixed accounts of the hook instruction, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HookAccounts {
    /// 0. The hook's pool or market state (writable).
    pub pool: Pubkey,
    /// 1. The hook's vault of the input mint, receiving the payer's tokens (writable).
    pub vault_in: Pubkey,
    /// 2. The hook's vault of the output mint, paying out (writable).
    pub vault_out: Pubkey,
    /// 3. The payer's token account of the input mint (writable).
    pub payer_source: Pubkey,
    /// 4. Where the output goes: for a Kassa payment, the escrow vault (writable).
    pub destination: Pubkey,
    /// 5. Owner of `payer_source`; signs the transaction.
    pub payer_authority: Pubkey,
    /// 6. Input mint.
    pub mint_in: Pubkey,
    /// 7. Output mint.
    pub mint_out: Pubkey,
    /// 8. Token program of the input mint.
    pub token_program_in: Pubkey,
    /// 9. Token program of the output mint.
    pub token_program_out: Pubkey,
}

impl HookAccounts {
    /// Account metas in the interface's order.
    pub fn metas(&self) -> Vec<AccountMeta> {
        vec![
            AccountMeta::new(self.pool, false),
            AccountMeta::new(self.vault_in, false),
            AccountMeta::new(self.vault_out, false),
            AccountMeta::new(self.payer_source, false),
            AccountMeta::new(self.destination, false),
            AccountMeta::new_readonly(self.payer_authority, true),
            AccountMeta::new_readonly(self.mint_in, false),
            AccountMeta::new_readonly(self.mint_out, false),
            AccountMeta::new_readonly(self.token_program_in, false),
            AccountMeta::new_readonly(self.token_program_out, false),
        ]
    }
}

/// The hook instruction for `hook_program`, with `extra` accounts appended after the fixed ones.
pub fn buy_exact_out(
    hook_program: Pubkey,
    accounts: &HookAccounts,
    extra: &[AccountMeta],
    args: BuyExactOutArgs,
) -> Instruction {
    let mut metas = accounts.metas();
    metas.extend_from_slice(extra);
    Instruction {
        program_id: hook_program,
        accounts: metas,
        data: args.data(),
    }
}

/// Invokes a hook from another program. `accounts` holds the fixed accounts in interface order
/// followed by any extras; the hook program's own account must be among `accounts` or passed
/// to the transaction.
///
/// The hook receives exactly the privileges the interface promises, whatever the caller's
/// accounts carry: accounts 0 to 4 writable, the payer authority (5) a read-only signer (it
/// authorises the token transfer from `payer_source`, and the hook cannot move its lamports),
/// 6 to 9 read-only, and extras never as signers (a co-signer of the outer transaction, such
/// as the KYT authority, is not lent to the hook).
pub fn invoke_buy_exact_out<'info>(
    hook_program: &AccountInfo<'info>,
    accounts: &[AccountInfo<'info>],
    args: BuyExactOutArgs,
) -> Result<()> {
    require!(
        accounts.len() >= FIXED_ACCOUNTS,
        ErrorCode::AccountNotEnoughKeys
    );
    let ix = Instruction {
        program_id: hook_program.key(),
        accounts: interface_metas(accounts),
        data: args.data(),
    };
    let mut infos = accounts.to_vec();
    infos.push(hook_program.clone());
    invoke(&ix, &infos).map_err(Into::into)
}

/// The metas a hook is called with: the interface's privileges for the fixed accounts, the
/// caller's writability and never a signature for the extras.
fn interface_metas(accounts: &[AccountInfo<'_>]) -> Vec<AccountMeta> {
    accounts
        .iter()
        .enumerate()
        .map(|(i, a)| match i {
            0..=4 => AccountMeta::new(a.key(), false),
            5 => AccountMeta::new_readonly(a.key(), true),
            6..=9 => AccountMeta::new_readonly(a.key(), false),
            _ if a.is_writable => AccountMeta::new(a.key(), false),
            _ => AccountMeta::new_readonly(a.key(), false),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_and_rejects_other_instructions() {
        let args = BuyExactOutArgs {
            amount_out: 25_000_000,
            max_in: 25_100_000,
        };
        let data = args.data();
        assert_eq!(data.len(), 24);
        assert_eq!(BuyExactOutArgs::parse(&data), Some(args));
        assert_eq!(BuyExactOutArgs::parse(&data[..23]), None);
        let mut other = data.clone();
        other[0] ^= 1;
        assert_eq!(BuyExactOutArgs::parse(&other), None);
    }

    #[test]
    fn a_hook_gets_the_interfaces_privileges_not_the_callers() {
        let keys: Vec<Pubkey> = (0..12).map(|_| Pubkey::new_unique()).collect();
        let mut lamports: Vec<u64> = vec![0; 12];
        let mut data: Vec<Vec<u8>> = vec![Vec::new(); 12];
        let owner = Pubkey::default();
        // Everything arrives as a writable signer, as a malicious caller could arrange.
        let infos: Vec<AccountInfo<'_>> = keys
            .iter()
            .zip(lamports.iter_mut())
            .zip(data.iter_mut())
            .map(|((k, l), d)| AccountInfo::new(k, true, true, l, d, &owner, false))
            .collect();
        let metas = interface_metas(&infos);
        let flags: Vec<(bool, bool)> = metas.iter().map(|m| (m.is_signer, m.is_writable)).collect();
        let mut expected = vec![(false, true); 5];
        expected.push((true, false));
        expected.extend([(false, false); 4]);
        expected.extend([(false, true); 2]);
        assert_eq!(flags, expected);
        assert!(metas.iter().zip(&keys).all(|(m, k)| m.pubkey == *k));
    }

    #[test]
    fn discriminator_is_the_documented_hash() {
        // sha256("kassa:conversion_hook:buy_exact_out")[..8]
        use sha2::Digest;
        let hash = sha2::Sha256::digest(b"kassa:conversion_hook:buy_exact_out");
        assert_eq!(hash[..8], BUY_EXACT_OUT_DISCRIMINATOR);
    }
}
