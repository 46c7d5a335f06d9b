//! Bounds on what the gate reads, checked before anything is buffered for it: a length word
//! alone can ask for gigabytes, and nesting alone can exhaust a stack.

/// Limits for one connection's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string, in bytes (Redis's `proto-max-bulk-len` is 512 MiB).
    pub max_bulk: usize,
    /// Most elements in one aggregate (Redis accepts up to 1,048,576 arguments).
    pub max_elements: usize,
    /// Deepest nesting of aggregates in one value.
    pub max_depth: usize,
    /// Longest inline command, and longest simple line (Redis: 64 KiB).
    pub max_inline: usize,
}

impl Limits {
    /// For clients: Redis's own argument count and inline size, a smaller bulk bound (a gate
    /// holds a command whole), and commands are flat arrays.
    pub const CLIENT: Self = Self { max_bulk: 64 << 20, max_elements: 1 << 20, max_depth: 1, max_inline: 64 * 1024 };

    /// For servers: Redis's own bulk bound, and nesting as deep as replies go in practice.
    pub const SERVER: Self =
        Self { max_bulk: 512 << 20, max_elements: usize::MAX, max_depth: 64, max_inline: 512 << 20 };
}

impl Default for Limits {
    fn default() -> Self {
        Self::CLIENT
    }
}
