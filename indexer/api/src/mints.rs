//! A mint's decimals and token program: read from the chain the first time the API meets the
//! mint, then kept in `api.mint` and in memory (a mint's decimals never change).

use crate::{error::ApiError, AppState};
use solana_sdk::pubkey::Pubkey;
use std::{collections::HashMap, sync::RwLock};

/// What the API needs of a mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MintInfo {
    pub decimals: u8,
    pub token_program: Pubkey,
}

#[derive(Default)]
pub struct MintCache {
    known: RwLock<HashMap<Pubkey, MintInfo>>,
}

/// Where `decimals` sits in an SPL Token or Token-2022 mint: after the optional mint authority
/// (4 + 32 bytes) and the supply (8).
const DECIMALS_OFFSET: usize = 44;

impl AppState {
    /// The decimals and token program of `mint`.
    pub async fn mint(&self, mint: &Pubkey) -> Result<MintInfo, ApiError> {
        if let Some(info) = self
            .mints
            .known
            .read()
            .ok()
            .and_then(|m| m.get(mint).copied())
        {
            return Ok(info);
        }
        let row: Option<(i16, Vec<u8>)> =
            sqlx::query_as("SELECT decimals, token_program FROM api.mint WHERE address = $1")
                .bind(&mint.to_bytes()[..])
                .fetch_optional(&self.pool)
                .await?;
        let info = match row {
            Some((decimals, program)) => MintInfo {
                decimals: u8::try_from(decimals)
                    .map_err(|_| ApiError::Internal(format!("mint {mint} decimals {decimals}")))?,
                token_program: Pubkey::try_from(program.as_slice())
                    .map_err(|_| ApiError::Internal(format!("mint {mint} program")))?,
            },
            None => {
                let account = self
                    .rpc
                    .get_account(mint)
                    .await
                    .map_err(ApiError::cluster)?;
                let is_token = account.owner == anchor_spl::token::ID
                    || account.owner == anchor_spl::token_2022::ID;
                let decimals = account.data.get(DECIMALS_OFFSET).copied();
                let (true, Some(decimals)) = (is_token, decimals) else {
                    return Err(ApiError::Internal(format!("{mint} is not a token mint")));
                };
                sqlx::query(
                    "INSERT INTO api.mint (address, decimals, token_program) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(&mint.to_bytes()[..])
                .bind(i16::from(decimals))
                .bind(&account.owner.to_bytes()[..])
                .execute(&self.pool)
                .await?;
                MintInfo {
                    decimals,
                    token_program: account.owner,
                }
            }
        };
        if let Ok(mut m) = self.mints.known.write() {
            m.insert(*mint, info);
        }
        Ok(info)
    }

    /// The decimals of `mint` given as stored bytes.
    pub async fn decimals_of(&self, mint: &[u8]) -> Result<u8, ApiError> {
        let mint = Pubkey::try_from(mint)
            .map_err(|_| ApiError::Internal("a stored mint is not 32 bytes".into()))?;
        Ok(self.mint(&mint).await?.decimals)
    }
}
