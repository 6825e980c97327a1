//! The Bayeux server over long-polling, on a real socket: the flows faye 1.4.3 and CometD clients use
//! (`docs/protocol.md` §2 to §10), and every kind of bad input answered without disturbing
//! anyone else.

mod bayeux_support;

use std::time::{Duration, Instant};

use bayeux_support::*;
use bytes::Bytes;
use http::{Method, StatusCode, header};
use live_runtime::bayeux::{BoxFuture, Context, Error, Extension, Message};
use serde_json::{Value, json};

#[tokio::test]
async fn handshake_connect_subscribe_and_delivery() {
    let t = start(options()).await;
    let handshake = t.post(handshake_message()).await;
    let reply = &handshake[0];
    assert_eq!(reply["id"], json!("1"), "the id is echoed as a string");
    assert_eq!(reply["channel"], json!("/meta/handshake"));
    assert_eq!(reply["version"], json!("1.0"));
    assert_eq!(reply["supportedConnectionTypes"], json!(["long-polling", "websocket"]));
    assert_eq!(reply["advice"], json!({"reconnect":"retry","interval":0,"timeout":2000}));
    let id = reply["clientId"].as_str().expect("a clientId").to_owned();

    // faye's first batch after a handshake: connect with `advice.timeout: 0` plus a subscribe.
    let batch = t.post(json!([connect_now(&id, "2"), subscribe_message(&id, json!("/api/todos"), "3")])).await;
    assert_eq!(reply_to(&batch, "3")["subscription"], json!("/api/todos"));
    assert_eq!(reply_to(&batch, "3")["successful"], json!(true));
    let connect = reply_to(&batch, "2");
    assert_eq!(connect["successful"], json!(true));
    assert_eq!(connect["clientId"], json!(id));
    assert_eq!(connect["advice"], json!({"reconnect":"retry","interval":0,"timeout":2000}));

    // A held connect is answered as soon as the server publishes.
    let held = {
        let addr = t.addr;
        let id = id.clone();
        tokio::spawn(async move { Probe(addr).post(connect_message(&id, "4")).await })
    };
    eventually("the connect to be held", || t.server.is_listening(&id)).await;
    let started = Instant::now();
    let reached = t.server.publish("/api/todos", json!({"method":"POST","body":{"id":1}})).expect("publish");
    assert_eq!(reached, 1);
    let replies = bounded("the held connect", held).await.expect("the task");
    assert!(started.elapsed() < Duration::from_millis(1500), "answered at once, not at the timeout");
    assert_eq!(reply_to(&replies, "4")["successful"], json!(true));
    let delivered = events(&replies);
    assert_eq!(delivered.len(), 1);
    // `{channel, data}` only: no id (CometD), no successful, no clientId (docs/protocol.md §6.2).
    assert_eq!(*delivered[0], json!({"channel":"/api/todos","data":{"method":"POST","body":{"id":1}}}));
}

#[tokio::test]
async fn first_connect_is_answered_at_once() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.handshake().await;
    let started = Instant::now();
    let replies = t.post(connect_message(&id, "2")).await;
    assert_eq!(replies[0]["successful"], json!(true));
    assert!(started.elapsed() < Duration::from_secs(2), "CometD needs the first connect answered at once");
}

#[tokio::test]
async fn client_timeout_zero_is_honoured() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.connected().await;
    let started = Instant::now();
    let replies = t.post(connect_now(&id, "3")).await;
    assert_eq!(replies[0]["successful"], json!(true));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "advice.timeout 0 means answer now (docs/protocol.md, pitfall P4)"
    );
}

#[tokio::test]
async fn idle_connect_is_held_for_the_timeout() {
    let t = start(options().timeout(Duration::from_secs(2))).await;
    let id = t.connected().await;
    let started = Instant::now();
    let replies = t.post(connect_message(&id, "3")).await;
    let held = started.elapsed();
    assert!(held >= Duration::from_millis(1950), "held {held:?}");
    assert!(held < Duration::from_secs(5), "held {held:?}");
    assert_eq!(
        replies,
        vec![json!({"id":"3","channel":"/meta/connect","clientId":id,"successful":true,
        "advice":{"reconnect":"retry","interval":0,"timeout":2000}})]
    );

    // A client may ask for a shorter hold, never a longer one.
    let started = Instant::now();
    let mut message = connect_message(&id, "4");
    message["advice"] = json!({"timeout": 100});
    t.post(message).await;
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn a_newer_connect_answers_the_held_one() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.connected().await;
    let held = {
        let (addr, id) = (t.addr, id.clone());
        tokio::spawn(async move { Probe(addr).post(connect_message(&id, "3")).await })
    };
    eventually("the connect to be held", || t.server.is_listening(&id)).await;
    // The second connect supersedes the first: one outstanding connect per client (docs/protocol.md §5.2).
    let started = Instant::now();
    t.post(connect_now(&id, "4")).await;
    let replies = bounded("the superseded connect", held).await.expect("the task");
    assert_eq!(reply_to(&replies, "3")["successful"], json!(true));
    assert!(started.elapsed() < Duration::from_secs(3), "answered at once, not after the 20 s hold");
}

#[tokio::test]
async fn wildcards_deliver_once_per_client() {
    let t = start(options()).await;
    let everything = t.connected().await;
    t.subscribe(&everything, json!(["/api/todos", "/api/*", "/api/**", "/**"])).await;
    let one_level = t.connected().await;
    t.subscribe(&one_level, json!("/api/*")).await;
    let records = t.connected().await;
    t.subscribe(&records, json!("/api/todos/*")).await;

    assert_eq!(t.server.publish("/api/todos", json!({"n":1})).expect("publish"), 2);
    assert_eq!(t.server.publish("/api/todos/42", json!({"n":2})).expect("publish"), 2);

    let all = t.post(connect_now(&everything, "e")).await;
    assert_eq!(
        events(&all),
        vec![&json!({"channel":"/api/todos","data":{"n":1}}), &json!({"channel":"/api/todos/42","data":{"n":2}})]
    );
    let one = t.post(connect_now(&one_level, "o")).await;
    assert_eq!(events(&one), vec![&json!({"channel":"/api/todos","data":{"n":1}})]);
    let rec = t.post(connect_now(&records, "r")).await;
    assert_eq!(events(&rec), vec![&json!({"channel":"/api/todos/42","data":{"n":2}})]);
}

#[tokio::test]
async fn duplicate_subscribe_then_one_unsubscribe_stops_delivery() {
    let t = start(options()).await;
    let id = t.connected().await;
    // faye 1.4.3 sends one subscribe per subscribe() call but only one unsubscribe (docs/protocol.md, pitfall P12).
    t.subscribe(&id, json!("/chat/room")).await;
    t.subscribe(&id, json!("/chat/room")).await;
    let replies =
        t.post(json!({"channel":"/meta/unsubscribe","clientId":id,"subscription":"/chat/room","id":"u"})).await;
    assert_eq!(replies[0]["successful"], json!(true));
    assert_eq!(replies[0]["subscription"], json!("/chat/room"));
    assert_eq!(t.server.publish("/chat/room", json!("hi")).expect("publish"), 0);
    assert!(events(&t.post(connect_now(&id, "c")).await).is_empty());
}

/// Asserts the reply is a 401 with handshake advice and an interval (docs/protocol.md §7.3, pitfall P3).
fn assert_unknown_client(reply: &Value, id: &str) {
    assert_eq!(reply["successful"], json!(false), "{reply}");
    assert_eq!(reply["error"], json!(format!("401:{id}:Unknown client")), "{reply}");
    assert_eq!(reply["advice"]["reconnect"], json!("handshake"), "{reply}");
    assert_eq!(reply["advice"]["interval"], json!(500), "{reply}");
}

#[tokio::test]
async fn every_unknown_client_reply_advises_a_handshake() {
    let t = start(options()).await;
    let ghost = "nosuchclient";
    let requests = [
        (connect_message(ghost, "1"), "/meta/connect"),
        (subscribe_message(ghost, json!("/chat/a"), "2"), "/meta/subscribe"),
        (
            json!({"channel":"/meta/unsubscribe","clientId":ghost,"subscription":"/chat/a","id":"3"}),
            "/meta/unsubscribe",
        ),
        (json!({"channel":"/meta/disconnect","clientId":ghost,"id":"4"}), "/meta/disconnect"),
        (json!({"channel":"/chat/a","clientId":ghost,"data":{},"id":"5"}), "/chat/a"),
    ];
    for (request, channel) in requests {
        let replies = t.post(request).await;
        assert_eq!(replies[0]["channel"], json!(channel));
        assert_unknown_client(&replies[0], ghost);
    }
    // A publish with no clientId at all is refused the same way by default.
    let replies = t.post(json!({"channel":"/chat/a","data":{},"id":"6"})).await;
    assert_unknown_client(&replies[0], "");
    assert_eq!(replies[0]["id"], json!("6"));
}

#[tokio::test]
async fn sessions_expire_without_connects() {
    let t = start(options().session_expiry(Duration::from_millis(300))).await;
    let id = t.connected().await;
    assert!(t.server.has_session(&id));
    eventually("the session to expire", || !t.server.has_session(&id)).await;
    assert_unknown_client(&t.post(connect_message(&id, "9")).await[0], &id);
}

#[tokio::test]
async fn a_held_connect_keeps_the_session_alive() {
    let t = start(options().timeout(Duration::from_millis(900)).session_expiry(Duration::from_millis(300))).await;
    let id = t.connected().await;
    // Held for 900 ms, three times the expiry: the session must survive it.
    t.post(connect_message(&id, "2")).await;
    assert!(t.server.has_session(&id));
}

#[tokio::test]
async fn a_held_connect_learns_at_once_that_the_server_ended_its_session() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.connected().await;
    let held = {
        let (addr, id) = (t.addr, id.clone());
        tokio::spawn(async move { Probe(addr).post(connect_message(&id, "3")).await })
    };
    eventually("the connect to be held", || t.server.is_listening(&id)).await;
    let started = Instant::now();
    t.server.close_all();
    let replies = bounded("the held connect", held).await.expect("the task");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["id"], json!("3"));
    assert_unknown_client(&replies[0], &id);
}

#[tokio::test]
async fn a_full_queue_ends_the_session() {
    let t = start(options().queue_limit(3)).await;
    let id = t.connected().await;
    t.subscribe(&id, json!("/chat/a")).await;
    for n in 0..3 {
        assert_eq!(t.server.publish("/chat/a", json!(n)).expect("publish"), 1);
    }
    assert!(t.server.has_session(&id));
    assert_eq!(t.server.publish("/chat/a", json!(3)).expect("publish"), 0);
    assert!(!t.server.has_session(&id), "overflow drops the session so the client re-handshakes");
    assert_unknown_client(&t.post(connect_now(&id, "c")).await[0], &id);
}

#[tokio::test]
async fn queued_events_arrive_in_order_within_the_bound() {
    let t = start(options()).await;
    let id = t.connected().await;
    t.subscribe(&id, json!("/chat/a")).await;
    for n in 0..500 {
        t.server.publish("/chat/a", json!(n)).expect("publish");
    }
    let replies = t.post(connect_message(&id, "c")).await;
    let numbers: Vec<Value> = events(&replies).iter().map(|e| e["data"].clone()).collect();
    assert_eq!(numbers, (0..500).map(|n| json!(n)).collect::<Vec<_>>());
}

#[tokio::test]
async fn disconnect_ends_the_session_and_answers_the_held_connect() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.connected().await;
    let held = {
        let (addr, id) = (t.addr, id.clone());
        tokio::spawn(async move { Probe(addr).post(connect_message(&id, "3")).await })
    };
    // Once the connect is really held, its reply must come from the disconnect.
    eventually("the connect to be held", || t.server.is_listening(&id)).await;
    let replies = t.post(json!({"channel":"/meta/disconnect","clientId":id,"id":"4"})).await;
    assert_eq!(replies, vec![json!({"id":"4","channel":"/meta/disconnect","clientId":id,"successful":true})]);
    assert!(!t.server.has_session(&id));
    let started = Instant::now();
    let held = bounded("the held connect", held).await.expect("the task");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(held[0]["id"], json!("3"));
    assert_eq!(held[0]["successful"], json!(true));
}

#[tokio::test]
async fn client_publish_follows_the_channel_policy() {
    let t = start(options()).await;
    let listener = t.connected().await;
    t.subscribe(&listener, json!("/chat/**")).await;
    let talker = t.connected().await;

    let publish = |channel: &str, id: &str| json!({"channel":channel,"clientId":talker,"data":{"text":"hi"},"id":id});
    let ack = t.post(publish("/chat/lobby", "p1")).await;
    assert_eq!(ack, vec![json!({"id":"p1","channel":"/chat/lobby","clientId":talker,"successful":true})]);
    let delivered = t.post(connect_now(&listener, "c")).await;
    // Delivered without the publisher's clientId or id.
    assert_eq!(events(&delivered), vec![&json!({"channel":"/chat/lobby","data":{"text":"hi"}})]);

    let expect_error = async |channel: &str, error: &str| {
        let replies = t.post(publish(channel, "p")).await;
        assert_eq!(replies[0]["successful"], json!(false), "{channel}");
        assert_eq!(replies[0]["error"], json!(error), "{channel}");
        assert_eq!(replies[0]["id"], json!("p"));
    };
    // Resource channels are server-only (docs/protocol.md §6.1).
    expect_error("/api/todos", "403:/api/todos:Forbidden channel").await;
    expect_error("/meta/foo", "403:/meta/foo:Forbidden channel").await;
    // CVE-2020-11020: a longer meta name is not the meta channel it starts with.
    expect_error("/meta/subscribe/x", "403:/meta/subscribe/x:Forbidden channel").await;
    expect_error("/chat/*", "405:/chat/*:Invalid channel").await;
    expect_error("/chat/**", "405:/chat/**:Invalid channel").await;
    expect_error("/chat/v1.0", "405:/chat/v1.0:Invalid channel").await;
    let no_data = t.post(json!({"channel":"/chat/lobby","clientId":talker,"id":"nd"})).await;
    assert_eq!(no_data[0]["error"], json!("402:data:Missing required parameter"));
    // `/service` is acked and reaches no remote client.
    let service = t.post(publish("/service/echo", "sv")).await;
    assert_eq!(service[0]["successful"], json!(true));
    assert!(events(&t.post(connect_now(&listener, "c2")).await).is_empty());
}

#[tokio::test]
async fn unconnected_publish_can_be_allowed() {
    let t = start(options().unconnected_publish(true)).await;
    let listener = t.connected().await;
    t.subscribe(&listener, json!("/chat/a")).await;
    let ack = t.post(json!({"channel":"/chat/a","data":"anon","id":"h"})).await;
    assert_eq!(ack, vec![json!({"id":"h","channel":"/chat/a","successful":true})]);
    assert_eq!(events(&t.post(connect_now(&listener, "c")).await).len(), 1);
}

#[tokio::test]
async fn subscribe_errors_match_faye() {
    let t = start(options()).await;
    let id = t.connected().await;
    for (subscription, error) in [
        ("/meta/foo", "403:/meta/foo:Forbidden channel"),
        ("/meta/**", "403:/meta/**:Forbidden channel"),
        ("/service/foo", "403:/service/foo:Forbidden channel"),
        ("no-slash", "405:no-slash:Invalid channel"),
        ("/a/*/b", "405:/a/*/b:Invalid channel"),
    ] {
        let replies = t.post(subscribe_message(&id, json!(subscription), "s")).await;
        assert_eq!(replies[0]["error"], json!(error));
        assert_eq!(replies[0]["subscription"], json!(subscription), "echoed");
    }
    // All or nothing: a bad name in an array subscribes none of them.
    let replies = t.post(subscribe_message(&id, json!(["/chat/ok", "/meta/x"]), "s")).await;
    assert_eq!(replies[0]["error"], json!("403:/meta/x:Forbidden channel"));
    assert_eq!(t.server.publish("/chat/ok", json!(1)).expect("publish"), 0);
    let missing = t.post(json!({"channel":"/meta/subscribe","clientId":id,"id":"m"})).await;
    assert_eq!(missing[0]["error"], json!("402:subscription:Missing required parameter"));
    assert_eq!(missing[0]["subscription"], json!([]));
}

#[tokio::test]
async fn handshake_errors_carry_slowed_handshake_advice() {
    let t = start(options()).await;
    for (message, error) in [
        (
            json!({"channel":"/meta/handshake","supportedConnectionTypes":["long-polling"],"id":"1"}),
            "402:version:Missing required parameter",
        ),
        (
            json!({"channel":"/meta/handshake","version":"1.0","id":"1"}),
            "402:supportedConnectionTypes:Missing required parameter",
        ),
        (
            json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["flash"],"id":"1"}),
            "301:flash:Connection types not supported",
        ),
    ] {
        let reply = &t.post(message).await[0];
        assert_eq!(reply["error"], json!(error));
        assert_eq!(reply["successful"], json!(false));
        assert!(reply["supportedConnectionTypes"].is_array());
        // faye's bare handshake advice makes ~80 handshakes a second (docs/protocol.md, pitfall P7).
        assert_eq!(reply["advice"], json!({"reconnect":"handshake","interval":500}));
    }
    let id = t.handshake().await;
    let missing_type = t.post(json!({"channel":"/meta/connect","clientId":id,"id":"2"})).await;
    assert_eq!(missing_type[0]["error"], json!("402:connectionType:Missing required parameter"));
    assert_eq!(missing_type[0]["advice"]["reconnect"], json!("handshake"));
    let bad_type = t.post(json!({"channel":"/meta/connect","clientId":id,"connectionType":"flash","id":"3"})).await;
    assert_eq!(bad_type[0]["error"], json!("301:flash:Connection types not supported"));
}

#[tokio::test]
async fn every_sub_path_of_the_mount_is_the_endpoint() {
    let t = start(options()).await;
    // CometD posts to `<mount>/handshake`, `<mount>/connect` and so on.
    let handshake = t.post_to("/live/handshake", handshake_message()).await;
    let id = handshake[0]["clientId"].as_str().expect("a clientId").to_owned();
    let connect = t.post_to("/live/connect", connect_message(&id, "2")).await;
    assert_eq!(connect[0]["successful"], json!(true));
    let subscribe = t.post_to("/live/", subscribe_message(&id, json!("/chat/a"), "3")).await;
    assert_eq!(subscribe[0]["successful"], json!(true));
    let other = t.request(Method::POST, "/elsewhere", Some("application/json"), Bytes::from("[]")).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

/// Asserts faye's answer to a body that is not Bayeux at all.
fn assert_bad_request(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(reply.body, "Bad request");
}

#[tokio::test]
async fn bad_bodies_get_400_and_the_server_keeps_serving() {
    let t = start(options()).await;
    let json = Some("application/json");
    assert_bad_request(&t.request(Method::POST, "/live", json, Bytes::from(r#"[{"channel":"#)).await);
    assert_bad_request(&t.request(Method::POST, "/live", json, Bytes::from("42")).await);
    assert_bad_request(&t.request(Method::POST, "/live", json, Bytes::from(r#""text""#)).await);
    assert_bad_request(&t.request(Method::POST, "/live", Some("text/plain"), Bytes::from("hello")).await);
    assert_bad_request(&t.request(Method::POST, "/live", Some("text/plain"), Bytes::from("message=%7Bnope")).await);
    assert_bad_request(&t.request(Method::PUT, "/live", json, Bytes::from("[]")).await);
    assert_bad_request(&t.request(Method::GET, "/live", None, Bytes::new()).await);
    // Still serving.
    t.handshake().await;
}

#[tokio::test]
async fn every_body_shape_faye_accepts() {
    let t = start(options()).await;
    assert_eq!(t.post(json!([])).await, Vec::<Value>::new());
    // A bare object gets an array back.
    assert_eq!(t.post(handshake_message()).await[0]["successful"], json!(true));
    let encoded: String = form_encode(&json!([handshake_message()]).to_string());
    for content_type in ["application/x-www-form-urlencoded", "text/plain;charset=UTF-8"] {
        let reply =
            t.request(Method::POST, "/live", Some(content_type), Bytes::from(format!("message={encoded}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{content_type}");
        assert_eq!(reply.json()[0]["successful"], json!(true), "{content_type}");
    }
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn bad_messages_get_bayeux_errors_and_the_rest_of_the_batch_is_served() {
    let t = start(options().max_batch(10).max_message_size(4096)).await;
    let id = t.connected().await;
    let replies = t
        .post(json!([
            {"id":"1","clientId":id,"data":{}},
            {"id":"2","channel":5},
            42,
            {"id":"4","channel":"/meta/foo","clientId":id},
            {"id":"5","channel":"/meta/handshake/x"},
            {"id":"6","channel":"not a channel","clientId":id,"data":{}},
            subscribe_message(&id, json!("/chat/a"), "7"),
        ]))
        .await;
    assert_eq!(replies.len(), 7);
    assert_eq!(reply_to(&replies, "1")["error"], json!("402:channel:Missing required parameter"));
    assert_eq!(reply_to(&replies, "2")["error"], json!("400::Bad request"));
    assert!(replies.iter().any(|r| r["error"] == json!("400::Bad request") && r.get("id").is_none()));
    assert_eq!(reply_to(&replies, "4")["error"], json!("403:/meta/foo:Forbidden channel"));
    assert_eq!(reply_to(&replies, "5")["error"], json!("403:/meta/handshake/x:Forbidden channel"));
    assert_eq!(reply_to(&replies, "6")["error"], json!("405:not a channel:Invalid channel"));
    assert_eq!(reply_to(&replies, "7")["successful"], json!(true));

    // Too many messages in one request: one error, nothing processed.
    let batch: Vec<Value> = (0..11).map(|n| subscribe_message(&id, json!(format!("/chat/{n}")), "b")).collect();
    let replies = t.post(Value::Array(batch)).await;
    assert_eq!(replies, vec![json!({"successful":false,"error":"400::Too many messages"})]);
    assert_eq!(t.server.publish("/chat/0", json!(1)).expect("publish"), 0);

    // A body over the limit: a Bayeux error with status 200, not a dropped connection (docs/protocol.md §2.5).
    let huge = json!({"channel":"/chat/a","clientId":id,"data":"x".repeat(10_000),"id":"h"});
    let replies = t.post(huge).await;
    assert_eq!(replies, vec![json!({"successful":false,"error":"400::Message too large"})]);

    // Everyone else is still served.
    assert_eq!(t.post(connect_now(&id, "c")).await[0]["successful"], json!(true));
}

/// Guards `/private/**` subscriptions with a token in `ext` or a header, strips the token, and tags
/// every reply, as faye users do auth (docs/protocol.md §9.2).
struct TokenGuard;

impl Extension for TokenGuard {
    fn incoming<'a>(&'a self, message: &'a mut Message, context: &'a Context) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let token = message.ext.as_mut().and_then(|ext| ext.as_object_mut()).and_then(|ext| ext.remove("token"));
            let header = context.headers().get("x-token").is_some_and(|value| value == "secret");
            let wants_private = message.channel.as_deref() == Some("/meta/subscribe")
                && message.subscription.as_ref().and_then(Value::as_str).is_some_and(|s| s.starts_with("/private"));
            if wants_private && token != Some(json!("secret")) && !header {
                return Err(Error::custom(403, ["/private"], "Token needed"));
            }
            Ok(())
        })
    }

    fn outgoing<'a>(&'a self, message: &'a mut Message, _: &'a Context) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            message.ext = Some(json!({"seen": true}));
            Ok(())
        })
    }
}

#[tokio::test]
async fn extensions_can_reject_modify_and_read_headers() {
    let t = start(options().extension(TokenGuard)).await;
    let id = t.connected().await;
    let denied = t.post(subscribe_message(&id, json!("/private/x"), "1")).await;
    assert_eq!(denied[0]["error"], json!("403:/private:Token needed"));
    assert_eq!(denied[0]["subscription"], json!("/private/x"), "a refused subscribe still names its subscription");
    assert_eq!(denied[0]["ext"], json!({"seen": true}), "outgoing hooks see failed replies too");
    let mut with_token = subscribe_message(&id, json!("/private/x"), "2");
    with_token["ext"] = json!({"token":"secret"});
    assert_eq!(t.post(with_token).await[0]["successful"], json!(true));

    let body = Bytes::from(subscribe_message(&id, json!("/private/y"), "3").to_string());
    let reply = probe_with_header(&t, body).await;
    assert_eq!(reply[0]["successful"], json!(true), "the header is visible to the hook");
    // The connect reply passes through outgoing hooks as well.
    assert_eq!(t.post(connect_now(&id, "4")).await[0]["ext"], json!({"seen": true}));
}

async fn probe_with_header(t: &TestServer, body: Bytes) -> Vec<Value> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    bounded("a request with a header", async {
        let stream = tokio::net::TcpStream::connect(t.addr).await.expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("HTTP handshake");
        tokio::spawn(connection);
        let request = http::Request::post("/live")
            .header(header::HOST, "127.0.0.1")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-token", "secret")
            .body(Full::new(body))
            .expect("a valid request");
        let response = sender.send_request(request).await.expect("a response");
        let body = response.into_body().collect().await.expect("a body").to_bytes();
        serde_json::from_slice(&body).expect("JSON")
    })
    .await
}

/// Refuses every handshake, as an authentication check would.
struct RefuseHandshakes;

impl Extension for RefuseHandshakes {
    fn incoming<'a>(&'a self, message: &'a mut Message, _: &'a Context) -> BoxFuture<'a, Result<(), Error>> {
        let refused = message.channel.as_deref() == Some("/meta/handshake");
        Box::pin(async move {
            if refused { Err(Error::custom(403, Vec::<String>::new(), "Authentication failed")) } else { Ok(()) }
        })
    }
}

#[tokio::test]
async fn a_refused_handshake_is_slowed_down() {
    let t = start(options().extension(RefuseHandshakes)).await;
    let reply = &t.post(handshake_message()).await[0];
    assert_eq!(reply["successful"], json!(false));
    assert_eq!(reply["error"], json!("403::Authentication failed"));
    assert_eq!(reply["id"], json!("1"));
    // Without an interval the faye client would handshake ~80 times a second (docs/protocol.md, pitfall P7).
    assert_eq!(reply["advice"], json!({"reconnect":"handshake","interval":500}));
    assert_eq!(t.server.session_count(), 0);
}

#[tokio::test]
async fn events_survive_a_client_that_goes_away_mid_hold() {
    use tokio::io::AsyncWriteExt;
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.connected().await;
    t.subscribe(&id, json!("/chat/a")).await;
    let body = connect_message(&id, "held").to_string();
    let mut socket = tokio::net::TcpStream::connect(t.addr).await.expect("connect");
    let request = format!(
        "POST /live HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.expect("write");
    eventually("the connect to be held", || t.server.is_listening(&id)).await;
    drop(socket);
    // The server notices the closed connection and lets go of the held connect.
    eventually("the held connect to be dropped", || !t.server.is_listening(&id)).await;
    t.server.publish("/chat/a", json!("kept")).expect("publish");
    let replies = t.post(connect_now(&id, "next")).await;
    assert_eq!(events(&replies), vec![&json!({"channel":"/chat/a","data":"kept"})]);
}

/// CometD's ack extension over long-polling (docs/protocol.md §6.5): a connect reply with events that never
/// reached the client is not lost; the next connect, acknowledging an older batch, gets the events again.
#[tokio::test]
async fn a_lost_reply_is_sent_again_to_an_acknowledging_client() {
    let t = start(options()).await;
    let mut handshake = handshake_message();
    handshake["ext"] = json!({"ack": true});
    let reply = t.post(handshake).await;
    assert_eq!(reply[0]["ext"], json!({"ack": true}));
    let id = reply[0]["clientId"].as_str().expect("a clientId").to_owned();
    let connect = |message_id: &str, ack: u64| {
        let mut message = connect_now(&id, message_id);
        message["ext"] = json!({"ack": ack});
        message
    };
    assert_eq!(reply_to(&t.post(connect("c0", 0)).await, "c0")["ext"], json!({"ack": 1}));
    t.subscribe(&id, json!("/chat/a")).await;
    t.server.publish("/chat/a", json!(1)).expect("publish");
    t.server.publish("/chat/a", json!(2)).expect("publish");
    let lost = t.post(connect("c1", 1)).await;
    assert_eq!(events(&lost).len(), 2);
    assert_eq!(reply_to(&lost, "c1")["ext"], json!({"ack": 2}));
    // The client never got batch 2: it acknowledges batch 1 again.
    t.server.publish("/chat/a", json!(3)).expect("publish");
    let again = t.post(connect("c2", 1)).await;
    assert_eq!(
        events(&again),
        vec![
            &json!({"channel":"/chat/a","data":1,"ext":{"resent":true}}),
            &json!({"channel":"/chat/a","data":2,"ext":{"resent":true}}),
            &json!({"channel":"/chat/a","data":3}),
        ]
    );
    assert_eq!(reply_to(&again, "c2")["ext"], json!({"ack": 3}));
    // Acknowledged: nothing comes twice.
    let next = t.post(connect("c3", 3)).await;
    assert!(events(&next).is_empty(), "{next:?}");
}

/// faye sends a connect again, with the same id, when its reply did not arrive: without acks, the events
/// that reply carried may be lost, so the session ends and the client handshakes again and resumes (§6.5).
#[tokio::test]
async fn a_connect_sent_again_after_a_lost_reply_ends_a_session_without_acks() {
    let t = start(options()).await;
    let id = t.connected().await;
    t.subscribe(&id, json!("/chat/a")).await;
    t.server.publish("/chat/a", json!(1)).expect("publish");
    assert_eq!(events(&t.post(connect_now(&id, "c1")).await).len(), 1);
    let replies = t.post(connect_now(&id, "c1")).await;
    assert_unknown_client(&replies[0], &id);
    assert!(!t.server.has_session(&id));

    // A reply without events may be lost harmlessly: the session carries on.
    let id = t.connected().await;
    t.subscribe(&id, json!("/chat/a")).await;
    assert!(events(&t.post(connect_now(&id, "c1")).await).is_empty());
    assert_eq!(t.post(connect_now(&id, "c1")).await[0]["successful"], json!(true));
    t.server.publish("/chat/a", json!(2)).expect("publish");
    assert_eq!(events(&t.post(connect_now(&id, "c2")).await), vec![&json!({"channel":"/chat/a","data":2})]);
}
