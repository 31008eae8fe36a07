//! Which mints a program that holds other people's money accepts. Token-2022 extensions that
//! let someone other than the holder move or freeze the funds, that run arbitrary code on
//! every transfer, or that let the mint be closed and created again with other extensions, are
//! refused everywhere; a transfer fee is accepted up to [`MAX_TRANSFER_FEE_BPS`], in force or
//! scheduled. Each program reports a refusal with its own error.
//!
//! A freeze authority is accepted: every regulated stablecoin (USDC, USDT, PYUSD) has one, and
//! refusing it would refuse them all (docs/decisions.md).

use anchor_lang::prelude::*;
use anchor_spl::token_2022::spl_token_2022::{
    self,
    extension::{
        transfer_fee::TransferFeeConfig, BaseStateWithExtensions, ExtensionType,
        StateWithExtensions,
    },
};

/// Extensions no Kassa program accepts on a mint it holds. `Pausable` lets its authority stop
/// every transfer out of an escrow or pool; `MintCloseAuthority` lets a zero-supply mint be
/// closed and created again at the same address with any extensions, after the checks passed.
pub const FORBIDDEN_EXTENSIONS: [ExtensionType; 6] = [
    ExtensionType::PermanentDelegate,
    ExtensionType::TransferHook,
    ExtensionType::NonTransferable,
    ExtensionType::DefaultAccountState,
    ExtensionType::Pausable,
    ExtensionType::MintCloseAuthority,
];

/// The highest Token-2022 transfer fee, in basis points, a Kassa program accepts on a mint,
/// whether in force or scheduled by the fee authority. Checked when a vault or pool is opened
/// and again at every payment and swap, so a fee raised later refuses new money instead of
/// taking it.
pub const MAX_TRANSFER_FEE_BPS: u16 = 100;

/// The first extension of `mint` that [`FORBIDDEN_EXTENSIONS`] names, if any (always `None`
/// for an SPL Token mint).
pub fn unsafe_mint_extension(mint: &AccountInfo<'_>) -> Result<Option<ExtensionType>> {
    if *mint.owner != spl_token_2022::ID {
        return Ok(None);
    }
    let data = mint.try_borrow_data()?;
    let state = StateWithExtensions::<spl_token_2022::state::Mint>::unpack(&data)?;
    Ok(state
        .get_extension_types()?
        .into_iter()
        .find(|e| FORBIDDEN_EXTENSIONS.contains(e)))
}

/// The transfer fee of `mint` in basis points: the higher of the fee in force and the one the
/// fee authority scheduled (0 for an SPL Token mint or one without the extension).
pub fn highest_transfer_fee_bps(mint: &AccountInfo<'_>) -> Result<u16> {
    if *mint.owner != spl_token_2022::ID {
        return Ok(0);
    }
    let data = mint.try_borrow_data()?;
    let state = StateWithExtensions::<spl_token_2022::state::Mint>::unpack(&data)?;
    Ok(match state.get_extension::<TransferFeeConfig>() {
        Ok(config) => u16::from(config.older_transfer_fee.transfer_fee_basis_points).max(
            u16::from(config.newer_transfer_fee.transfer_fee_basis_points),
        ),
        Err(_) => 0,
    })
}

/// Whether `mint` is a Token-2022 mint with a transfer-fee extension (a program that books
/// amounts it did not measure must refuse it).
pub fn has_transfer_fee(mint: &AccountInfo<'_>) -> Result<bool> {
    if *mint.owner != spl_token_2022::ID {
        return Ok(false);
    }
    let data = mint.try_borrow_data()?;
    let state = StateWithExtensions::<spl_token_2022::state::Mint>::unpack(&data)?;
    Ok(state.get_extension::<TransferFeeConfig>().is_ok())
}
