//! The AI caller's `end_call` function over GA function calling.

use super::*;
use crate::bridge::protocol::{NewItem, Tool};

fn caller_config(url: &str) -> BridgeConfig {
    BridgeConfig {
        end_call_tool: true,
        ..config(url)
    }
}

/// The function-call events of one response, as GA streams them.
async fn function_call(ws: &mut Server, response: &str, call_id: &str, arguments: &str) {
    let item = json!({"id":"fc_1","object":"realtime.item","type":"function_call",
                      "status":"in_progress","name":"end_call","call_id":call_id,"arguments":""});
    send(
        ws,
        json!({"type":"response.output_item.added","response_id":response,"output_index":1,"item":item}),
    )
    .await;
    send(
        ws,
        json!({"type":"response.function_call_arguments.delta","response_id":response,
               "item_id":"fc_1","output_index":1,"call_id":call_id,"delta":arguments}),
    )
    .await;
    send(
        ws,
        json!({"type":"response.function_call_arguments.done","event_id":"e","response_id":response,
               "item_id":"fc_1","output_index":1,"call_id":call_id,"arguments":arguments}),
    )
    .await;
    let mut done = item;
    done["status"] = json!("completed");
    done["arguments"] = json!(arguments);
    send(
        ws,
        json!({"type":"response.output_item.done","response_id":response,"output_index":1,"item":done}),
    )
    .await;
}

#[tokio::test]
async fn the_session_declares_end_call_with_tool_choice_auto() {
    let (listener, url) = listener().await;
    let (handle, _port, _rx) = begin(caller_config(&url));
    let (mut ws, ..) = accept(&listener).await;
    let ClientEvent::SessionUpdate { session } = handshake(&mut ws).await else {
        unreachable!()
    };
    assert_eq!(session.tool_choice.as_deref(), Some("auto"));
    let tools = session.tools.expect("tools declared");
    assert_eq!(tools.len(), 1);
    let Tool::Function { name, .. } = &tools[0];
    assert_eq!(name, "end_call");
    handle.stop().await;
}

#[tokio::test]
async fn end_call_is_reported_once_and_answered_with_its_call_id() {
    let (listener, url) = listener().await;
    let (handle, _port, mut rx) = begin(caller_config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;
    function_call(
        &mut ws,
        "resp_1",
        "call_9",
        r#"{"passed":false,"reason":"They had no tables."}"#,
    )
    .await;
    assert_eq!(
        event(&mut rx, |e| matches!(e, BridgeEvent::EndCall { .. })).await,
        BridgeEvent::EndCall {
            passed: false,
            reason: "They had no tables.".into()
        }
    );
    let ClientEvent::ConversationItemCreate {
        item: NewItem::FunctionCallOutput { call_id, output },
    } = recv(&mut ws, false).await
    else {
        panic!("a function_call_output");
    };
    assert_eq!(call_id, "call_9");
    assert!(output.contains("Verdict recorded"), "{output}");
    // `output_item.done` repeated the call: it is not answered twice, and no reply is asked.
    send(
        &mut ws,
        json!({"type":"response.done","response":{"id":"resp_1","status":"completed"}}),
    )
    .await;
    send(
        &mut ws,
        json!({"type":"input_audio_buffer.speech_started","audio_start_ms":10,"item_id":"in_1"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let next = timeout(Duration::from_millis(300), recv(&mut ws, false)).await;
    assert!(next.is_err(), "nothing more was sent: {next:?}");
    handle.stop().await;
}

#[tokio::test]
async fn bad_arguments_are_explained_to_the_model_which_is_asked_again() {
    let (listener, url) = listener().await;
    let (handle, _port, mut rx) = begin(caller_config(&url));
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;
    function_call(&mut ws, "resp_1", "call_1", r#"{"passed":"yes"}"#).await;
    let BridgeEvent::Warning(warning) =
        event(&mut rx, |e| matches!(e, BridgeEvent::Warning(_))).await
    else {
        unreachable!()
    };
    assert!(warning.contains("`passed` must be a boolean"), "{warning}");
    let ClientEvent::ConversationItemCreate {
        item: NewItem::FunctionCallOutput { call_id, output },
    } = recv(&mut ws, false).await
    else {
        panic!("a function_call_output");
    };
    assert_eq!(call_id, "call_1");
    assert!(
        output.starts_with("Error: `passed` must be a boolean"),
        "{output}"
    );
    // Asked again only once the response is done (the server refuses a second active one).
    send(
        &mut ws,
        json!({"type":"response.done","response":{"id":"resp_1","status":"completed"}}),
    )
    .await;
    assert_eq!(recv(&mut ws, false).await, ClientEvent::ResponseCreate);
    handle.stop().await;
}

#[tokio::test]
async fn the_idle_probe_waits_for_a_reply_to_finish_arriving_and_to_be_played() {
    let (listener, url) = listener().await;
    let (handle, mut port, mut rx) = begin(caller_config(&url));
    let probe = handle.idle_probe();
    assert!(probe.is_idle(), "nothing to play before the session");
    let (mut ws, ..) = accept(&listener).await;
    handshake(&mut ws).await;
    ready(&mut rx).await;
    send(
        &mut ws,
        json!({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}),
    )
    .await;
    send(&mut ws, delta("resp_1", "item_1", &[0x20; 320])).await;
    first_audio(&mut port).await;
    let mut frame = vec![0i16; 160];
    port.source(&mut frame);
    // Both frames went out, but the reply has not said it is done: more may come.
    assert!(!probe.is_idle());
    send(
        &mut ws,
        json!({"type":"response.output_audio.done","response_id":"resp_1","item_id":"item_1"}),
    )
    .await;
    let mut idle = false;
    for _ in 0..200 {
        if probe.is_idle() {
            idle = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(idle, "all played and the reply done");
    handle.stop().await;
}
