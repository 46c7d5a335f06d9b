//! ward-redis against a real Redis (`WARD_TEST_REDIS_URL`, or a throwaway `redis-server`).

mod key_positions;
