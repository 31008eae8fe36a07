//! Which mints a program that holds other people's money accepts. Token-2022 extensions that
//! let someone other than the holder move or freeze the funds, or that run arbitrary code on
//! every transfer, are refused everywhere; each program reports the refusal with its own error.

use anchor_lang::prelude::*;
use anchor_spl::token_2022::spl_token_2022::{
    self,
    extension::{
        transfer_fee::TransferFeeConfig, BaseStateWithExtensions, ExtensionType,
        StateWithExtensions,
    },
};

/// Extensions no Kassa program accepts on a mint it holds.
pub const FORBIDDEN_EXTENSIONS: [ExtensionType; 4] = [
    ExtensionType::PermanentDelegate,
    ExtensionType::TransferHook,
    ExtensionType::NonTransferable,
    ExtensionType::DefaultAccountState,
];

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
