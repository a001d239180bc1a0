//! The AI caller's contract with the model: the instructions that make it the caller (a
//! persona, a goal), and the `end_call` function it calls with its verdict, whose arguments
//! the model writes and we must read defensively (they are model output, not our data).
//! The GA function-calling events this relies on, with sources: docs/realtime-function-calling.md.

use serde_json::{json, Value};

use super::protocol::Tool;

/// The function the model calls to end the call with a verdict.
pub const END_CALL: &str = "end_call";

/// The instructions for a session in which the model places the call: who it is, what it
/// must get done, when to end the call, and any `--instructions` the user added.
pub fn instructions(persona: Option<&str>, goal: Option<&str>, extra: Option<&str>) -> String {
    let mut text = String::from(
        "You are the caller on a phone call that you placed. The other side is a phone agent \
         (possibly an automated voice assistant). Speak like a person on the phone: short \
         sentences, one thing at a time, and wait for the other side to answer. Never say \
         that you are an AI, and never play the role of the agent.",
    );
    if let Some(persona) = persona.map(str::trim).filter(|p| !p.is_empty()) {
        text.push_str("\n\nWho you are and how you speak: ");
        text.push_str(persona);
    }
    if let Some(goal) = goal.map(str::trim).filter(|g| !g.is_empty()) {
        text.push_str("\n\nYour goal on this call: ");
        text.push_str(goal);
        text.push_str(&format!(
            "\n\nPursue this goal. As soon as it has been met, or it clearly cannot be met \
             (the agent refuses, cannot help, or keeps going in circles), say a short goodbye \
             and call the `{END_CALL}` function with `passed` (true when the goal was met) and \
             `reason` (one sentence saying why). Do not end the call in any other way."
        ));
    }
    if let Some(extra) = extra.map(str::trim).filter(|e| !e.is_empty()) {
        text.push_str("\n\n");
        text.push_str(extra);
    }
    text
}

/// The `end_call` tool as `session.update` declares it.
pub fn end_call_tool() -> Tool {
    Tool::Function {
        name: END_CALL.to_owned(),
        description: "End the phone call with a verdict on your goal. Call it once the goal \
                      has been met, or when it clearly cannot be met. Say goodbye first."
            .to_owned(),
        parameters: json!({
            "type": "object",
            "properties": {
                "passed": {
                    "type": "boolean",
                    "description": "true when the goal was met, false when it was not",
                },
                "reason": {
                    "type": "string",
                    "description": "One sentence: why the goal was or was not met",
                },
            },
            "required": ["passed", "reason"],
            "additionalProperties": false,
        }),
    }
}

/// `{passed, reason}` from the model's arguments; the error says what was wrong, in words
/// the model can act on (it is sent back as the function's output).
pub fn parse_end_call(arguments: &str) -> Result<(bool, String), String> {
    let value: Value = serde_json::from_str(arguments)
        .map_err(|e| format!("the arguments are not valid JSON ({e})"))?;
    let passed = match value.get("passed") {
        Some(Value::Bool(passed)) => *passed,
        Some(_) => return Err("`passed` must be a boolean (true or false)".to_owned()),
        None => return Err("`passed` is missing".to_owned()),
    };
    let reason = match value.get("reason") {
        Some(Value::String(reason)) if !reason.trim().is_empty() => reason.trim().to_owned(),
        Some(Value::String(_)) => return Err("`reason` must not be empty".to_owned()),
        Some(_) => return Err("`reason` must be a string".to_owned()),
        None => return Err("`reason` is missing".to_owned()),
    };
    Ok((passed, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_make_the_model_the_caller_with_its_persona_goal_and_extras() {
        let text = instructions(
            Some("Dana, a busy nurse"),
            Some("book a table for two"),
            Some("Speak French."),
        );
        assert!(text.starts_with("You are the caller"), "{text}");
        assert!(text.contains("Dana, a busy nurse"));
        assert!(text.contains("Your goal on this call: book a table for two"));
        assert!(text.contains("`end_call`"));
        assert!(text.ends_with("Speak French."));
    }

    #[test]
    fn without_a_goal_the_instructions_do_not_mention_the_tool() {
        let text = instructions(Some("Dana"), None, None);
        assert!(!text.contains(END_CALL), "{text}");
    }

    #[test]
    fn end_call_tool_requires_passed_and_reason() {
        let Tool::Function {
            name, parameters, ..
        } = end_call_tool();
        assert_eq!(name, "end_call");
        assert_eq!(parameters["required"], json!(["passed", "reason"]));
        assert_eq!(parameters["properties"]["passed"]["type"], "boolean");
        assert_eq!(parameters["properties"]["reason"]["type"], "string");
    }

    #[test]
    fn reads_good_arguments() {
        assert_eq!(
            parse_end_call(r#"{"passed":true,"reason":" Booked for 8 pm. "}"#),
            Ok((true, "Booked for 8 pm.".to_owned()))
        );
        assert_eq!(
            parse_end_call(r#"{"reason":"No tables","passed":false,"extra":1}"#),
            Ok((false, "No tables".to_owned()))
        );
    }

    #[test]
    fn says_what_is_wrong_with_bad_arguments() {
        for (bad, says) in [
            ("{", "not valid JSON"),
            (r#"{"reason":"x"}"#, "`passed` is missing"),
            (
                r#"{"passed":"yes","reason":"x"}"#,
                "`passed` must be a boolean",
            ),
            (r#"{"passed":true}"#, "`reason` is missing"),
            (r#"{"passed":true,"reason":7}"#, "`reason` must be a string"),
            (r#"{"passed":true,"reason":"  "}"#, "must not be empty"),
            ("[]", "`passed` is missing"),
        ] {
            let e = parse_end_call(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
