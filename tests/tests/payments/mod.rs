//! kassa_payments: the whole lifecycle (`lifecycle`), every instruction attacked with the wrong
//! signers and accounts (`attacks`), and long random sequences checking the escrow invariants
//! after every step (`randomized`).

pub mod attacks;
mod lifecycle;
mod randomized;
