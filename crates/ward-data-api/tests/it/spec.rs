//! The OpenAPI document, checked by a validator; and curl, the client people reach for first.

use std::process::Command;

use serde_json::{Value, json};

use crate::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_validates_and_describes_the_real_answers() {
    let api = start(false, "").await;
    let doc: Value = api.http.get(format!("{}/openapi.json", api.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let dir = tempfile_dir();
    let path = dir.join("openapi.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    // openapi-spec-validator (the test suite's set-up installs it).
    let out = Command::new("python3")
        .args(["-c", "import sys; from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename; validate(read_from_filename(sys.argv[1])[0]); print('valid')"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A real answer has every member the schema requires.
    let token = api.token("alice", &["reader"], "database:read");
    let a = api.query(&token, "select 1 as one", json!([])).await;
    for member in doc["components"]["schemas"]["QueryResult"]["required"].as_array().unwrap() {
        assert!(a.body.get(member.as_str().unwrap()).is_some(), "{member}");
    }
    let e = api.query(&token, "selec", json!([])).await;
    for member in doc["components"]["schemas"]["Error"]["required"].as_array().unwrap() {
        assert!(e.body.get(member.as_str().unwrap()).is_some(), "{member}");
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ward-openapi-{}", ward_testkit::pg::random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_queries_with_a_bearer_token() {
    let api = start(false, "").await;
    let token = api.token("bob", &["reader"], "database:read");
    let url = format!("{}/query", api.url);
    let curl = |args: &[&str]| {
        let out = Command::new("curl").args(["-sS", "-w", "\n%{http_code}"]).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_owned(), serde_json::from_str::<Value>(body).unwrap_or(Value::Null))
    };
    let (code, body) = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"query": "select title from posts where title = $1", "params": ["bob 1"]}"#,
        &url,
    ]);
    assert_eq!(code, "200");
    assert_eq!(body["rows"], json!([{"title": "bob 1"}]));
    let (code, body) = curl(&["-H", "Content-Type: application/json", "-d", r#"{"query": "select 1"}"#, &url]);
    assert_eq!((code.as_str(), body["error"].as_str()), ("401", Some("unauthorized")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_when_configured_and_slow_clients_are_cut_off() {
    let dir = tempfile_dir();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.join("api.crt"), dir.join("api.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let tls = format!(
        "header_read_timeout = \"1s\"\ntls = {{ cert_file = {:?}, key_file = {:?} }}",
        cert.display().to_string(),
        key.display().to_string()
    );
    let api = start(false, &tls).await;
    let https_url = api.url.replace("http://", "https://");
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(generated.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let token = api.token("alice", &["reader"], "database:read");
    let response = trusted
        .post(format!("{https_url}/query"))
        .bearer_auth(&token)
        .json(&json!({"query": "select 1 as one"}))
        .send()
        .await
        .unwrap();
    let a = crate::answer(response).await;
    assert_eq!(a.body["rows"], json!([{"one": 1}]));
    // Plain HTTP to the TLS listener gets no answer.
    assert!(
        api.http
            .post(format!("{}/query", api.url))
            .bearer_auth(&token)
            .json(&json!({"query": "select 1"}))
            .send()
            .await
            .is_err()
    );

    // A client that sends half its headers and stalls is disconnected after header_read_timeout.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let plain = start(false, "header_read_timeout = \"1s\"").await;
    let mut slow = tokio::net::TcpStream::connect(plain.url.trim_start_matches("http://")).await.unwrap();
    slow.write_all(b"POST /query HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "closed, not left hanging");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_wait_for_a_free_one() {
    // One connection at a time; a silent client holds it until header_read_timeout cuts it off.
    let api = start(false, "max_client_connections = 1\nheader_read_timeout = \"2s\"").await;
    let silent = tokio::net::TcpStream::connect(api.url.trim_start_matches("http://")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let token = api.token("alice", &["reader"], "database:read");
    let a = api.query(&token, "select 1 as one", json!([])).await;
    assert_eq!(a.body["rows"], json!([{"one": 1}]));
    let waited = started.elapsed();
    assert!(waited >= std::time::Duration::from_millis(1500), "served after the silent one left: {waited:?}");
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_threads_of_its_own_connections_over_the_limit_are_answered_503() {
    let api = start(false, "threads = 2\nmax_client_connections = 1\nheader_read_timeout = \"5s\"").await;
    let _silent = tokio::net::TcpStream::connect(api.url.trim_start_matches("http://")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let token = api.token("alice", &["reader"], "database:read");
    let started = std::time::Instant::now();
    let a = api.query(&token, "select 1", json!([])).await;
    assert_eq!((a.status, a.body["error"].as_str()), (503, Some("unavailable")), "{a:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "answered at once");
}
