//! "Every client except" lists holding a stale id (a
//! client that left, whose slot a new client took with a new generation),
//! ids of other workers and of no worker, over two workers.

mod support;

use support::probe::{id_parts, probe_client, probe_target, text};
use support::{AppSpec, Client, Server, close_code, next_message};

#[test]
fn a_stale_id_in_an_except_list_does_not_except_the_client_now_in_its_slot() {
    let server = Server::start_with(1, &[AppSpec::simple("probe")], r#""worker_c": 2,"#);
    let mut clients: Vec<(Client, u64)> = (0..24).map(|_| probe_client(&server)).collect();
    // a (the last client) leaves; every other client hears "bye a".
    let (mut a, a_id) = clients.pop().unwrap();
    a.close(None).unwrap();
    assert_eq!(close_code(&mut a), 1005);
    for (c, _) in &mut clients {
        assert_eq!(text(&next_message(c)), format!("bye {a_id}"));
    }
    // b: the next client a's worker gets, in a's slot.
    let (b, b_id) = loop {
        let (c, id) = probe_client(&server);
        if id_parts(id).0 == id_parts(a_id).0 {
            break (c, id);
        }
        clients.push((c, id));
        assert!(clients.len() < 60);
    };
    assert_eq!(id_parts(b_id).1, id_parts(a_id).1, "b is in a's slot");
    assert_ne!(b_id, a_id);
    clients.push((b, b_id));
    let b_index = clients.len() - 1;
    let ids: Vec<u64> = clients.iter().map(|&(_, id)| id).collect();
    // The sender is client 0. Lists: a's stale id alone (single and
    // multi), and with 20 others (sorted path), with an id of worker 7
    // (no such worker) that shares b's slot and generation.
    let ghost = (7u64 << 54) | (b_id & ((1 << 54) - 1));
    let long: Vec<u64> = ids[1..21]
        .iter()
        .copied()
        .filter(|&id| id != b_id)
        .chain([a_id, ghost])
        .collect();
    let plans: Vec<(u8, Vec<u64>)> = vec![
        (4, vec![a_id]),
        (5, vec![a_id]),
        (5, vec![a_id, ghost]),
        (5, long.clone()),
        (4, vec![ghost]),
    ];
    for (target, list) in &plans {
        clients[0].0.send(probe_target(*target, list)).unwrap();
    }
    clients[0].0.send(probe_target(3, &[])).unwrap();
    for (i, (c, id)) in clients.iter_mut().enumerate() {
        let expected: Vec<String> = plans
            .iter()
            .filter(|(_, list)| !list.contains(id))
            .map(|(t, _)| format!("t{t}"))
            .chain(["t3".to_owned()])
            .collect();
        let got: Vec<String> = expected.iter().map(|_| text(&next_message(c))).collect();
        assert_eq!(got, expected, "client {i} (id {id}, b is {b_index})");
    }
}
