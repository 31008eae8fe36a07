//! Admin settings of a pool: the accounts shared by ramp, stop-ramp and settings changes.

use crate::{error::ConvertError, state::Pool};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct PoolAdmin<'info> {
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ ConvertError::NotPoolAdmin)]
    pub pool: Box<Account<'info, Pool>>,
}
