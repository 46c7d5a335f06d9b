//! A gate on threads of its own (`threads = N`): one listener per thread on one port, each
//! with its share of the pool, cancel keys shared.

use std::time::Duration;

use ward_config::gate::PoolMode;

use crate::setup_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_on_two_threads_shares_its_pool_and_cancels_across_threads() {
    let (issuer, gate) = setup_with(|c| {
        c.threads = 2;
        c.pool_size = 5;
        c.pool_mode = PoolMode::Transaction;
    })
    .await;
    assert_eq!(gate.gates.len(), 2);
    let shares: Vec<usize> = gate.gates.iter().map(|g| g.pools["svc_reader"].size()).collect();
    assert_eq!(shares, [3, 2], "the shares add up to pool_size");

    let mut clients = Vec::new();
    for i in 0..6 {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        let client = gate.connect(user, &issuer.token(user, &["reader"]).unwrap()).await.unwrap();
        let row = client.query_one("select current_setting('app.user_id')", &[]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), user);
        clients.push(client);
    }
    // Each CancelRequest is a new connection the kernel gives to either thread, whichever
    // thread serves the session it names.
    for (i, client) in clients.into_iter().enumerate() {
        crate::assert_cancel_stops_a_sleep(client, &format!("client {i}")).await;
    }

    // Stopping ends every thread's listener.
    let addr = gate.addr;
    drop(gate);
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "the gate still accepts after stop");
}
