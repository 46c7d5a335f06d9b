//! ward-redis against a real Redis (`WARD_TEST_REDIS_URL`, or a throwaway `redis-server`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod connections;
mod gate;
mod key_positions;
mod redis_rs;
