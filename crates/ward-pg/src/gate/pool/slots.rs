//! The slots of one pool and the connections idle in it, with who waits for them.
//!
//! Transaction pooling lives on backends staying with one identity: a backend passing to
//! another identity costs a round trip and a `DISCARD ALL`. So, besides first come, first
//! served:
//! - a connection coming back goes straight to a waiting client of the identity it holds. The
//!   oldest waiter can be overtaken that way at most `size` times — about one turn of the
//!   pool — and is then served next: an identity with no connection gets one within a turn of
//!   the pool, and keeps it while its clients wait;
//! - a client that finds no idle connection of its identity, while its identity has
//!   connections busy, waits a little for one of those ([`PATIENCE`], or [`PATIENCE_RELEASES`]
//!   connections of other identities coming back, whichever is first) before it takes another
//!   identity's idle connection.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::super::backend::Backend;
use super::super::context::IdentityDigest;

/// Idle connections older than this are health-checked before they are handed out.
pub const HEALTH_CHECK_AFTER: Duration = Duration::from_secs(1);

/// The longest a client waits for a busy connection of its identity while another identity's
/// connection is idle. The timer's resolution: waits end sooner, when connections come back.
pub const PATIENCE: Duration = Duration::from_millis(1);

/// How many connections of other identities may come back while a client waits for one of
/// its own before it takes one of theirs.
pub const PATIENCE_RELEASES: u32 = 16;

pub struct Slots {
    size: usize,
    idle_timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Slots held by a lease, or on their way to a waiter.
    taken: usize,
    /// Slots taken per identity: whether a connection of that identity may come back soon.
    taken_by: HashMap<IdentityDigest, usize>,
    idle: Vec<Backend>,
    waiters: VecDeque<Waiter>,
    tickets: u64,
}

struct Waiter {
    ticket: u64,
    identity: Option<IdentityDigest>,
    overtaken: usize,
    /// Connections of other identities that may still come back before this waiter, holding
    /// out for its own identity's, takes one of theirs. Zero: an ordinary waiter.
    patience: u32,
    grant: oneshot::Sender<Grant>,
}

/// One of the pool's `size` places for a connection, taken for an identity. Dropping it frees
/// the place, or hands it to the next waiter.
pub struct Slot {
    slots: Option<Arc<Slots>>,
    identity: Option<IdentityDigest>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            let state = slots.lock();
            let slot = Slot { slots: Some(slots.clone()), identity: self.identity };
            Slots::pass_on(&slots, state, slot);
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
    /// Every slot is taken: wait for one.
    Wait(oneshot::Receiver<Grant>),
    /// Waiting for a connection of its own identity; on [`PATIENCE`] without one, call
    /// [`Slots::lose_patience`] with the ticket.
    Patient(oneshot::Receiver<Grant>, u64),
}

impl State {
    fn count_taken(&mut self, identity: Option<IdentityDigest>) {
        if let Some(identity) = identity {
            *self.taken_by.entry(identity).or_default() += 1;
        }
    }

    fn count_freed(&mut self, identity: Option<IdentityDigest>) {
        if let Some(identity) = identity
            && let Some(count) = self.taken_by.get_mut(&identity)
        {
            *count -= 1;
            if *count == 0 {
                self.taken_by.remove(&identity);
            }
        }
    }

    fn queue(&mut self, identity: Option<IdentityDigest>, patience: u32) -> (oneshot::Receiver<Grant>, u64) {
        let (grant, receiver) = oneshot::channel();
        self.tickets += 1;
        let ticket = self.tickets;
        self.waiters.push_back(Waiter { ticket, identity, overtaken: 0, patience, grant });
        (receiver, ticket)
    }
}

impl Slots {
    pub fn new(size: usize, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self { size, idle_timeout, state: Mutex::new(State::default()) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; were it poisoned, the state is still whole.
        ward_core::sync::lock(&self.state)
    }

    fn new_slot(self: &Arc<Self>, state: &mut State, identity: Option<IdentityDigest>) -> Slot {
        state.taken += 1;
        state.count_taken(identity);
        Slot { slots: Some(self.clone()), identity }
    }

    /// A slot, with an idle connection if there is one to take, when one is free; else a
    /// place in the queue.
    pub fn claim(self: &Arc<Self>, identity: Option<IdentityDigest>) -> Claim {
        let mut state = self.lock();
        if state.taken >= self.size {
            let (receiver, _) = state.queue(identity, 0);
            return Claim::Wait(receiver);
        }
        if let Some(backend) = self.take_idle(&mut state, identity, false) {
            let slot = self.new_slot(&mut state, identity);
            return Claim::Granted(Grant { slot, backend: Some(backend) });
        }
        let own_busy = identity.is_some_and(|i| state.taken_by.contains_key(&i));
        if own_busy && !state.idle.is_empty() {
            let (receiver, ticket) = state.queue(identity, PATIENCE_RELEASES);
            return Claim::Patient(receiver, ticket);
        }
        let backend = self.take_idle(&mut state, identity, true);
        let slot = self.new_slot(&mut state, identity);
        Claim::Granted(Grant { slot, backend })
    }

    /// A patient waiter ran out of time: served now if a slot is free, else an ordinary waiter
    /// (and `None`). Also `None` when it was served meanwhile: the grant is in its channel.
    pub fn lose_patience(self: &Arc<Self>, ticket: u64) -> Option<Grant> {
        let mut state = self.lock();
        let index = state.waiters.iter().position(|w| w.ticket == ticket)?;
        if state.taken >= self.size {
            state.waiters[index].patience = 0;
            return None;
        }
        let waiter = state.waiters.remove(index)?;
        let backend = self.take_idle(&mut state, waiter.identity, true);
        let slot = self.new_slot(&mut state, waiter.identity);
        Some(Grant { slot, backend })
    }

    /// An idle connection for the holder of a slot: one holding `identity`, else a clean one,
    /// else (when `foreign`) [`spare`]'s choice.
    pub fn take_idle_for(&self, identity: Option<IdentityDigest>) -> Option<Backend> {
        self.take_idle(&mut self.lock(), identity, true)
    }

    fn take_idle(&self, state: &mut State, identity: Option<IdentityDigest>, foreign: bool) -> Option<Backend> {
        let now = Instant::now();
        loop {
            let own = identity.and_then(|d| state.idle.iter().rposition(|b| b.holds == Some(d)));
            let clean = || state.idle.iter().rposition(|b| b.holds.is_none());
            let index = own.or_else(clean).or_else(|| if foreign { spare(&state.idle) } else { None })?;
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
            while state.waiters.front().is_some_and(|w| w.grant.is_closed()) {
                state.waiters.pop_front();
            }
            let may_overtake = state.waiters.front().is_none_or(|w| w.overtaken < self.size);
            let same = state
                .waiters
                .iter()
                .position(|w| w.identity.is_some() && w.identity == backend.holds && !w.grant.is_closed())
                .filter(|&i| i == 0 || may_overtake);
            let Some(waiter) = same.and_then(|i| {
                // Only the oldest waiter counts: were every waiter passed over counted, all
                // would reach the bound together and the queue turn plain first come, first
                // served, a reset at nearly every hand-over.
                if i > 0 {
                    state.waiters.front_mut().into_iter().for_each(|oldest| oldest.overtaken += 1);
                }
                state.waiters.remove(i)
            }) else {
                state.idle.push(backend);
                break;
            };
            let mut slot = grant.slot;
            if slot.identity != waiter.identity {
                state.count_freed(slot.identity);
                state.count_taken(waiter.identity);
                slot.identity = waiter.identity;
            }
            match waiter.grant.send(Grant { slot, backend: Some(backend) }) {
                Ok(()) => return,
                // It stopped waiting a moment ago: the next one, then.
                Err(back) => grant = back,
            }
        }
        Self::pass_on(self, state, grant.slot);
    }

    /// Hands `slot` to the oldest waiter not holding out for its own identity, or frees it.
    /// Every waiter holding out loses some patience: a connection of another identity came
    /// back, not one of its own.
    fn pass_on(self: &Arc<Self>, mut state: MutexGuard<'_, State>, mut slot: Slot) {
        state.count_freed(slot.identity);
        state.waiters.retain(|w| !w.grant.is_closed());
        for waiter in state.waiters.iter_mut() {
            waiter.patience = waiter.patience.saturating_sub(1);
        }
        while let Some(index) = state.waiters.iter().position(|w| w.patience == 0) {
            let Some(waiter) = state.waiters.remove(index) else { break };
            state.count_taken(waiter.identity);
            slot.identity = waiter.identity;
            match waiter.grant.send(Grant { slot, backend: None }) {
                Ok(()) => return,
                Err(back) => {
                    slot = back.slot;
                    state.count_freed(slot.identity);
                }
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
        Slot { slots: Some(slots), identity: None }
    }
}

/// Which idle connection to give a client when none holds its identity and none is clean: one
/// of the identity with the most idle connections — the one that can best spare it, so that
/// identities do not keep taking each other's last connection.
fn spare(idle: &[Backend]) -> Option<usize> {
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
            Claim::Wait(_) | Claim::Patient(..) => panic!("expected a free slot"),
        }
    }

    fn waiting(claim: Claim) -> oneshot::Receiver<Grant> {
        match claim {
            Claim::Granted(_) | Claim::Patient(..) => panic!("expected to wait"),
            Claim::Wait(receiver) => receiver,
        }
    }

    fn digest(n: u8) -> Option<IdentityDigest> {
        Some(IdentityDigest::for_test(n))
    }

    #[tokio::test]
    async fn a_client_of_another_identity_takes_a_clean_backend_else_from_the_richest_identity() {
        let (a, b, c) = (digest(1), digest(2), digest(3));
        let mut peers = Vec::new();
        let idle: Vec<_> = [a, b, b, a, b].into_iter().map(|holds| backend(holds, &mut peers)).collect();
        let taken = spare(&idle).unwrap();
        assert_eq!(idle[taken].holds, b, "b has three idle backends, a two");
        assert_eq!(spare(&[]), None);

        let slots = Slots::new(4, Duration::from_secs(60));
        let held: Vec<Slot> = (0..2).map(|_| granted(slots.claim(None)).slot).collect();
        for (holds, slot) in [a, None].into_iter().zip(held) {
            slots.give_back(backend(holds, &mut peers), slot);
        }
        let grant = granted(slots.claim(c));
        assert_eq!(grant.backend.map(|b| b.holds), Some(None), "no reset beats any reset");
    }

    #[tokio::test]
    async fn a_client_waits_a_little_for_a_busy_backend_of_its_identity() {
        let (a, b) = (digest(1), digest(2));
        let mut peers = Vec::new();
        let slots = Slots::new(4, Duration::from_secs(60));
        let a_slot = granted(slots.claim(a)).slot;
        let b_slot = granted(slots.claim(b)).slot;
        slots.give_back(backend(b, &mut peers), b_slot);
        // a's backend is busy, b's idle: a second client of a holds out for a's.
        let Claim::Patient(mut a_waits, _) = slots.claim(a) else { panic!("expected to hold out") };
        slots.give_back(backend(a, &mut peers), a_slot);
        let grant = a_waits.try_recv().unwrap();
        assert_eq!(grant.backend.map(|b| b.holds), Some(a), "its own identity's, no reset");
        assert_eq!(slots.idle_count(), 1, "b's still idle");
    }

    #[tokio::test]
    async fn patience_ends_after_releases_of_other_identities_or_on_time() {
        let (a, b) = (digest(1), digest(2));
        let mut peers = Vec::new();
        let slots = Slots::new(PATIENCE_RELEASES as usize + 2, Duration::from_secs(60));
        let _a_slot = granted(slots.claim(a)).slot;
        let b_slots: Vec<Slot> = (0..=PATIENCE_RELEASES).map(|_| granted(slots.claim(b)).slot).collect();
        let mut b_slots = b_slots.into_iter();
        slots.give_back(backend(b, &mut peers), b_slots.next().unwrap());
        let Claim::Patient(mut a_waits, _) = slots.claim(a) else { panic!("expected to hold out") };
        for slot in b_slots {
            assert!(a_waits.try_recv().is_err(), "still holding out");
            slots.give_back(backend(b, &mut peers), slot);
        }
        let grant = a_waits.try_recv().expect("out of patience after PATIENCE_RELEASES of b's");
        assert!(grant.backend.is_none(), "takes its pick of the idle ones");
        assert_eq!(slots.take_idle_for(a).map(|b| b.holds), Some(b));

        // On time: the caller's timer.
        let Claim::Patient(_, ticket) = slots.claim(a) else { panic!("expected to hold out") };
        let grant = slots.lose_patience(ticket).expect("a slot is free");
        assert_eq!(grant.backend.map(|b| b.holds), Some(b));
        assert!(slots.lose_patience(ticket).is_none(), "served once");
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
    async fn only_the_oldest_waiter_counts_being_overtaken() {
        let (a, b, c) = (digest(1), digest(2), digest(3));
        let mut peers = Vec::new();
        let size = 2;
        let slots = Slots::new(size, Duration::from_secs(60));
        let mut held: Vec<Slot> = (0..size).map(|_| granted(slots.claim(a)).slot).collect();
        let mut b_waits = waiting(slots.claim(b));
        let mut c_waits = waiting(slots.claim(c));
        for _ in 0..size {
            let a_waits = waiting(slots.claim(a));
            slots.give_back(backend(a, &mut peers), held.remove(0));
            held.push(a_waits.await.unwrap().slot);
        }
        let _a_waits = waiting(slots.claim(a));
        slots.give_back(backend(a, &mut peers), held.remove(0));
        let _b_grant = b_waits.try_recv().expect("b was passed over twice: its turn");
        let a_waits = waiting(slots.claim(a));
        slots.give_back(backend(a, &mut peers), held.remove(0));
        assert!(c_waits.try_recv().is_err(), "c, now the oldest, has not been passed over yet");
        drop(a_waits);
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
