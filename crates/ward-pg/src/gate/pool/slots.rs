//! The slots of one pool and the connections idle in it, with who waits for them. Waiting is
//! first come, first served, with one exception that transaction pooling lives on: a
//! connection coming back goes straight to a waiting client of the identity it holds, which
//! spares both a reset round trip. An older waiter of another identity can be overtaken that
//! way at most `size` times — about one turn of the whole pool — and is then served next.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::super::backend::Backend;
use super::super::context::IdentityDigest;

/// Idle connections older than this are health-checked before they are handed out.
pub const HEALTH_CHECK_AFTER: Duration = Duration::from_secs(1);

pub struct Slots {
    size: usize,
    idle_timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Slots held by a lease, or on their way to a waiter.
    taken: usize,
    idle: Vec<Backend>,
    waiters: VecDeque<Waiter>,
}

struct Waiter {
    identity: Option<IdentityDigest>,
    overtaken: usize,
    grant: oneshot::Sender<Grant>,
}

/// One of the pool's `size` places for a connection. Dropping it frees the place, or hands it
/// to the next waiter.
pub struct Slot {
    slots: Option<Arc<Slots>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            let state = slots.lock();
            Slots::pass_on(&slots, state, Slot { slots: Some(slots.clone()) });
        }
    }
}

impl Slot {
    /// Forgets the place without freeing it: the caller accounts for it.
    fn disarm(mut self) {
        self.slots = None;
    }
}

/// What a waiter is given: a slot, with a connection that already holds its identity or
/// without one (to take an idle connection with, or open one).
pub struct Grant {
    pub slot: Slot,
    pub backend: Option<Backend>,
}

/// What a client asking for a slot gets at once.
// Moved once per transaction; boxing the grant would allocate once per transaction instead.
#[allow(clippy::large_enum_variant)]
pub enum Claim {
    Granted(Grant),
    Wait(oneshot::Receiver<Grant>),
}

impl Slots {
    pub fn new(size: usize, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self { size, idle_timeout, state: Mutex::new(State::default()) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; were it poisoned, the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot (with an idle connection for `identity` if there is one) when one is free, else
    /// a place in the queue.
    pub fn claim(self: &Arc<Self>, identity: Option<IdentityDigest>) -> Claim {
        let mut state = self.lock();
        if state.taken < self.size {
            state.taken += 1;
            let slot = Slot { slots: Some(self.clone()) };
            return Claim::Granted(Grant { slot, backend: self.take_idle(&mut state, identity) });
        }
        let (grant, receiver) = oneshot::channel();
        state.waiters.push_back(Waiter { identity, overtaken: 0, grant });
        Claim::Wait(receiver)
    }

    /// An idle connection for the holder of a slot: one holding `identity`, else
    /// [`spare`]'s choice.
    pub fn take_idle_for(&self, identity: Option<IdentityDigest>) -> Option<Backend> {
        self.take_idle(&mut self.lock(), identity)
    }

    fn take_idle(&self, state: &mut State, identity: Option<IdentityDigest>) -> Option<Backend> {
        let now = Instant::now();
        loop {
            let preferred = identity.and_then(|d| state.idle.iter().rposition(|b| b.holds == Some(d)));
            let index = preferred.or_else(|| spare(&state.idle))?;
            let backend = state.idle.swap_remove(index);
            let idle_for = now.saturating_duration_since(backend.idle_since);
            // Connections idle a while are checked before use: PostgreSQL may have closed
            // them (a restart, pg_terminate_backend). Busy ones are not, to spare a syscall
            // per transaction. Dead or too old ones are dropped and the next is tried.
            let healthy =
                idle_for < HEALTH_CHECK_AFTER || (backend.conn.buf.is_empty() && backend.conn.stream.idle_and_open());
            if idle_for < self.idle_timeout && healthy {
                return Some(backend);
            }
        }
    }

    /// A connection back between uses, with its slot: to a waiter of the identity it holds
    /// if one may go first, else idle, the slot going to the next waiter.
    pub fn give_back(self: &Arc<Self>, backend: Backend, slot: Slot) {
        let mut state = self.lock();
        let mut grant = Grant { slot, backend: Some(backend) };
        while let Some(backend) = grant.backend.take() {
            let may_overtake = state.waiters.front().is_none_or(|w| w.overtaken < self.size);
            let same = state
                .waiters
                .iter()
                .position(|w| w.identity.is_some() && w.identity == backend.holds && !w.grant.is_closed())
                .filter(|&i| i == 0 || may_overtake);
            let Some(waiter) = same.and_then(|i| {
                state.waiters.range_mut(..i).for_each(|earlier| earlier.overtaken += 1);
                state.waiters.remove(i)
            }) else {
                state.idle.push(backend);
                break;
            };
            match waiter.grant.send(Grant { slot: grant.slot, backend: Some(backend) }) {
                Ok(()) => return,
                // It stopped waiting a moment ago: the next one, then.
                Err(back) => grant = back,
            }
        }
        Self::pass_on(self, state, grant.slot);
    }

    /// Hands `slot` to the oldest live waiter, or frees it.
    fn pass_on(self: &Arc<Self>, mut state: MutexGuard<'_, State>, mut slot: Slot) {
        while let Some(waiter) = state.waiters.pop_front() {
            match waiter.grant.send(Grant { slot, backend: None }) {
                Ok(()) => return,
                Err(back) => slot = back.slot,
            }
        }
        state.taken -= 1;
        drop(state);
        slot.disarm();
    }

    pub fn idle_count(&self) -> usize {
        self.lock().idle.len()
    }

    #[cfg(test)]
    fn taken(&self) -> usize {
        self.lock().taken
    }

    /// A slot of a pool of one of its own, for tests of what happens on a backend.
    #[cfg(test)]
    pub fn lone_slot() -> Slot {
        let slots = Self::new(1, Duration::from_secs(60));
        slots.lock().taken = 1;
        Slot { slots: Some(slots) }
    }
}

/// Which idle connection to give a client when none holds its identity: a clean one (no
/// reset needed), else one of the identity with the most idle connections — the one that can
/// best spare it, so that identities do not keep taking each other's last connection.
fn spare(idle: &[Backend]) -> Option<usize> {
    if let Some(clean) = idle.iter().rposition(|b| b.holds.is_none()) {
        return Some(clean);
    }
    let idle_of = |holds| idle.iter().filter(|b| b.holds == holds).count();
    (0..idle.len()).rev().max_by_key(|&i| idle_of(idle[i].holds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixStream;

    fn backend(holds: Option<IdentityDigest>, peers: &mut Vec<UnixStream>) -> Backend {
        let (backend, peer) = Backend::for_test(holds);
        peers.push(peer);
        backend
    }

    fn granted(claim: Claim) -> Grant {
        match claim {
            Claim::Granted(grant) => grant,
            Claim::Wait(_) => panic!("expected a free slot"),
        }
    }

    fn waiting(claim: Claim) -> oneshot::Receiver<Grant> {
        match claim {
            Claim::Granted(_) => panic!("expected to wait"),
            Claim::Wait(receiver) => receiver,
        }
    }

    fn digest(n: u8) -> Option<IdentityDigest> {
        Some(IdentityDigest::for_test(n))
    }

    #[tokio::test]
    async fn a_client_of_another_identity_takes_a_clean_backend_else_from_the_richest_identity() {
        let (a, b) = (digest(1), digest(2));
        let mut peers = Vec::new();
        let mut idle: Vec<_> = [a, b, b, a, b].into_iter().map(|holds| backend(holds, &mut peers)).collect();
        let taken = spare(&idle).unwrap();
        assert_eq!(idle[taken].holds, b, "b has three idle backends, a two");
        idle.insert(0, backend(None, &mut peers));
        assert_eq!(spare(&idle), Some(0), "no reset beats any reset");
        assert_eq!(spare(&[]), None);
    }

    #[tokio::test]
    async fn a_returned_connection_goes_to_a_waiter_of_its_identity_before_older_waiters() {
        let (a, b) = (digest(1), digest(2));
        let mut peers = Vec::new();
        let slots = Slots::new(1, Duration::from_secs(60));
        let first = granted(slots.claim(a));
        let mut b_waits = waiting(slots.claim(b));
        let mut a_waits = waiting(slots.claim(a));
        slots.give_back(backend(a, &mut peers), first.slot);
        let grant = a_waits.try_recv().unwrap();
        assert_eq!(grant.backend.as_ref().map(|b| b.holds), Some(a), "handed over as it is");
        assert!(b_waits.try_recv().is_err(), "b still waits");
        assert_eq!(slots.taken(), 1);
        assert_eq!(slots.idle_count(), 0);
    }

    #[tokio::test]
    async fn an_older_waiter_is_overtaken_at_most_size_times() {
        let (a, b) = (digest(1), digest(2));
        let mut peers = Vec::new();
        let size = 2;
        let slots = Slots::new(size, Duration::from_secs(60));
        let mut held: Vec<Slot> = (0..size).map(|_| granted(slots.claim(a)).slot).collect();
        let mut b_waits = waiting(slots.claim(b));
        for _ in 0..size {
            let a_waits = waiting(slots.claim(a));
            slots.give_back(backend(a, &mut peers), held.remove(0));
            held.push(a_waits.await.unwrap().slot);
            assert!(b_waits.try_recv().is_err(), "overtaken");
        }
        let _a_waits = waiting(slots.claim(a));
        slots.give_back(backend(a, &mut peers), held.remove(0));
        let grant = b_waits.try_recv().expect("b's turn");
        assert!(grant.backend.is_none(), "b gets the slot and takes its pick of the idle connections");
        assert_eq!(slots.take_idle_for(b).map(|b| b.holds), Some(a));
    }

    #[tokio::test]
    async fn no_slot_is_lost_to_a_waiter_that_gave_up() {
        let slots = Slots::new(1, Duration::from_secs(60));
        let first = granted(slots.claim(None));
        drop(waiting(slots.claim(None)));
        drop(first);
        assert_eq!(slots.taken(), 0, "the slot was freed, not handed to a waiter who left");

        // A slot sent to a waiter that leaves before reading it comes back too.
        let first = granted(slots.claim(None));
        let gone = waiting(slots.claim(None));
        drop(first);
        assert_eq!(slots.taken(), 1, "on its way to the waiter");
        drop(gone);
        assert_eq!(slots.taken(), 0);
        let again = granted(slots.claim(None));
        assert!(again.backend.is_none());
    }

    #[tokio::test]
    async fn a_connection_is_not_handed_to_a_waiter_that_gave_up() {
        let a = digest(1);
        let mut peers = Vec::new();
        let slots = Slots::new(1, Duration::from_secs(60));
        let first = granted(slots.claim(a));
        drop(waiting(slots.claim(a)));
        let mut live = waiting(slots.claim(a));
        slots.give_back(backend(a, &mut peers), first.slot);
        let grant = live.try_recv().unwrap();
        assert!(grant.backend.is_some());
        assert_eq!(slots.taken(), 1);
        drop(grant);
        assert_eq!(slots.taken(), 0);
    }
}
