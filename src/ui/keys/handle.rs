//! Carrying out an action: which call it applies to, the command it sends, or the notice
//! that says why it cannot act.

use super::{filter_words, Action};
use crate::sip::dial;
use crate::ui::state::{App, CallView, Overlay, Prompt, PromptKind, TraceView};
use crate::vocab::{CallId, Command, LogLevel};
use std::time::Instant;

impl App {
    pub fn handle(&mut self, action: Action, now: Instant) -> Option<Command> {
        let outcome = match action {
            Action::Answer => self
                .ringing_target(now, "answer")
                .map(|call| Some(Command::Answer(call))),
            Action::Reject => self.ringing_target(now, "reject").map(|call| {
                Some(Command::Reject {
                    call,
                    decline: false,
                })
            }),
            Action::Hangup => self
                .live_target(now)
                .map(|call| Some(Command::Hangup(call))),
            Action::ToggleBridge => self
                .answered_target(now, "bridge")
                .map(|call| Some(Command::ToggleBridge(call))),
            // Bridged, the microphone is not sent anyway: `m` mutes the listen-in instead.
            Action::ToggleMute => self.answered_target(now, "mute").map(|call| {
                let c = self.calls.get(&call);
                Some(match c.filter(|c| c.bridge) {
                    Some(c) => Command::MuteListenIn {
                        call,
                        muted: !c.listen_muted,
                    },
                    None => Command::MuteMicrophone {
                        call,
                        muted: !c.is_some_and(|c| c.mic_muted),
                    },
                })
            }),
            Action::Dial => self.dial_allowed().map(|()| {
                self.overlay = Overlay::Prompt(Prompt::new(PromptKind::Dial));
                None
            }),
            Action::ToggleHold => self.answered_target(now, "hold").map(|call| {
                let held = self.calls.get(&call).is_some_and(|c| c.held_by_us);
                Some(Command::Hold { call, on: !held })
            }),
            Action::Transfer => self.answered_target(now, "transfer").map(|call| {
                self.overlay = Overlay::Prompt(Prompt::new(PromptKind::Transfer(call)));
                None
            }),
            Action::Keypad(digit) => self.answered_target(now, "send DTMF to").map(|call| {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.push_dtmf_sent(digit);
                }
                Some(Command::SendDtmf {
                    call,
                    digits: digit.to_string(),
                })
            }),
            Action::Edit(edit) => {
                if let Overlay::Prompt(p) = &mut self.overlay {
                    p.edit(edit);
                }
                Ok(None)
            }
            Action::Submit => self.submit(),
            Action::SelectNext => self.select_step(now, 1).map(|()| None),
            Action::SelectPrev => self.select_step(now, -1).map(|()| None),
            Action::ToggleTrace => {
                self.overlay = match self.overlay {
                    Overlay::Trace(_) => Overlay::None,
                    _ => Overlay::Trace(TraceView {
                        call: self.selected_call(now).map(|c| c.id),
                        ..TraceView::default()
                    }),
                };
                Ok(None)
            }
            Action::Up => self.recall(true).unwrap_or_else(|| self.trace_move(-1)),
            Action::Down => self.recall(false).unwrap_or_else(|| self.trace_move(1)),
            Action::Open => self.trace_open(),
            Action::Back => self.back(),
            Action::ToggleHelp => {
                self.overlay = match self.overlay {
                    Overlay::Help => Overlay::None,
                    _ => Overlay::Help,
                };
                Ok(None)
            }
            Action::Quit => self.quit_asking(),
            Action::ForceQuit => {
                self.overlay = Overlay::None;
                if self.quitting {
                    self.leave_now = true;
                    Ok(None)
                } else {
                    Ok(Some(self.start_quitting()))
                }
            }
            Action::Confirm(true) => {
                self.overlay = Overlay::None;
                Ok(Some(self.start_quitting()))
            }
            Action::Confirm(false) => {
                self.overlay = Overlay::None;
                Err("not quitting; calls stay up".to_string())
            }
            Action::CycleLogFilter => {
                self.log_filter = next_filter(self.log_filter);
                Err(format!("log shows {}", filter_words(self.log_filter)))
            }
            Action::Unbound(name) => Err(self.unbound_hint(&name)),
            Action::Ignore => Ok(None),
        };
        match outcome {
            Ok(command) => command,
            Err(why) => {
                self.set_notice(why, now);
                None
            }
        }
    }

    /// `d` opens the prompt unless we are on our way out.
    pub fn dial_allowed(&self) -> Result<(), String> {
        if self.quitting {
            Err("quitting: no new calls".into())
        } else {
            Ok(())
        }
    }

    /// Enter in the prompt: what was typed becomes a URI (`dial::resolve`, with the account's
    /// domain for a bare number) and the command goes out; a reason why not stays in the
    /// footer with the text kept, and nothing is sent.
    fn submit(&mut self) -> Result<Option<Command>, String> {
        let Overlay::Prompt(p) = &self.overlay else {
            return Ok(None);
        };
        let target =
            dial::resolve(&p.text, self.dial_domain().as_deref()).map_err(|e| e.to_string())?;
        let kind = p.kind;
        self.overlay = Overlay::None;
        match kind {
            PromptKind::Dial => {
                self.history.remember(&target);
                Ok(Some(Command::Dial { target }))
            }
            PromptKind::Transfer(call) => match self.calls.get(&call) {
                Some(c) if c.is_answered() => Ok(Some(Command::Transfer { call, target })),
                _ => Err(format!("call {call} is no longer up: nothing to transfer")),
            },
        }
    }

    /// ↑↓ in the prompt walk the dial history; `None` when no prompt is open.
    fn recall(&mut self, older: bool) -> Option<Result<Option<Command>, String>> {
        match &mut self.overlay {
            Overlay::Prompt(p) => Some(p.recall(&self.history, older).map(|()| None)),
            _ => None,
        }
    }

    /// The call `a`/`r` act on: the selected call if it rings, else the only ringing one.
    pub fn ringing_target(&self, now: Instant, verb: &str) -> Result<CallId, String> {
        let selected = self.selected_call(now);
        if let Some(c) = selected.filter(|c| c.is_ringing()) {
            return Ok(c.id);
        }
        let ringing: Vec<CallId> = self.ringing_calls().map(|c| c.id).collect();
        match ringing.as_slice() {
            [] => match selected.filter(|c| c.is_dialling()) {
                Some(c) => Err(format!(
                    "call {} is our own call: nothing to {verb}; h cancels it",
                    c.id
                )),
                None => Err(format!("no ringing call to {verb}")),
            },
            [one] => Ok(*one),
            many => Err(format!(
                "{} calls are ringing: select one with Tab, then {verb}",
                many.len()
            )),
        }
    }

    /// The call `h` ends: the selected one, or the only live one when none is selected.
    pub fn live_target(&self, now: Instant) -> Result<CallId, String> {
        match self.selected_call(now) {
            Some(c) if c.is_live() => Ok(c.id),
            Some(c) => Err(format!("call {} has already ended", c.id)),
            None => match self.single_live(|_| true) {
                Some(id) => Ok(id),
                None if self.live_calls().next().is_none() => Err("no call to hang up".into()),
                None => Err("select a call with Tab first".into()),
            },
        }
    }

    /// The call `b`/`m` act on: the selected call once answered.
    pub fn answered_target(&self, now: Instant, verb: &str) -> Result<CallId, String> {
        match self.selected_call(now) {
            Some(c) if c.is_answered() => Ok(c.id),
            Some(c) if c.is_ringing() => Err(format!("answer call {} before you {verb} it", c.id)),
            Some(c) if c.is_dialling() => Err(format!(
                "call {} is not answered yet: wait for the answer to {verb} it",
                c.id
            )),
            Some(c) if !c.is_live() => Err(format!("call {} has already ended", c.id)),
            _ => self
                .single_live(|c| c.is_answered())
                .ok_or_else(|| format!("no answered call to {verb}")),
        }
    }

    fn single_live(&self, keep: impl Fn(&CallView) -> bool) -> Option<CallId> {
        let mut matching = self.live_calls().filter(|c| keep(c));
        match (matching.next(), matching.next()) {
            (Some(c), None) => Some(c.id),
            _ => None,
        }
    }

    fn select_step(&mut self, now: Instant, step: isize) -> Result<(), String> {
        let ids: Vec<CallId> = self.visible_calls(now).map(|c| c.id).collect();
        if ids.is_empty() {
            return Err("no calls to select".into());
        }
        let here = self
            .selected
            .and_then(|s| ids.iter().position(|id| *id == s));
        let next = match here {
            None => 0,
            Some(i) => (i as isize + step).rem_euclid(ids.len() as isize) as usize,
        };
        if here == Some(next) {
            return Err(format!("call {} is the only call", ids[next]));
        }
        self.selected = Some(ids[next]);
        if let Overlay::Trace(t) = &mut self.overlay {
            *t = TraceView {
                call: Some(ids[next]),
                ..TraceView::default()
            };
        }
        Ok(())
    }

    fn trace_move(&mut self, step: isize) -> Result<Option<Command>, String> {
        let Overlay::Trace(t) = &self.overlay else {
            return Ok(None);
        };
        let messages = self.sip_messages(t.call);
        let count = messages.map_or(0, |m| m.len());
        let shown = t.selected.unwrap_or(count.saturating_sub(1));
        let text_lines = messages
            .and_then(|m| m.get(shown))
            .map_or(0, |m| m.text.lines().count());
        let Overlay::Trace(t) = &mut self.overlay else {
            return Ok(None);
        };
        if t.full {
            let last_line = u16::try_from(text_lines.saturating_sub(1)).unwrap_or(u16::MAX);
            t.scroll = if step < 0 {
                t.scroll.saturating_sub(1)
            } else {
                t.scroll.saturating_add(1).min(last_line)
            };
            return Ok(None);
        }
        if count == 0 {
            return Err("no SIP messages here yet".into());
        }
        let last = count - 1;
        let at = t.selected.unwrap_or(last).min(last);
        let to = (at as isize + step).clamp(0, last as isize) as usize;
        // Reaching the newest message again resumes following new ones.
        t.selected = (to != last).then_some(to);
        Ok(None)
    }

    fn trace_open(&mut self) -> Result<Option<Command>, String> {
        let Overlay::Trace(t) = &self.overlay else {
            return Ok(None);
        };
        let empty = self.sip_messages(t.call).is_none_or(|m| m.is_empty());
        let Overlay::Trace(t) = &mut self.overlay else {
            return Ok(None);
        };
        if t.full {
            t.full = false;
        } else if empty {
            return Err("no SIP message to open".into());
        } else {
            t.full = true;
            t.scroll = 0;
        }
        Ok(None)
    }

    fn back(&mut self) -> Result<Option<Command>, String> {
        match &mut self.overlay {
            Overlay::Trace(t) if t.full => t.full = false,
            Overlay::None => return Err("nothing to close; q quits".into()),
            _ => self.overlay = Overlay::None,
        }
        Ok(None)
    }

    fn quit_asking(&mut self) -> Result<Option<Command>, String> {
        if self.quitting {
            return Err("already quitting; Ctrl+C leaves without waiting".into());
        }
        if self.live_calls().next().is_some() {
            self.overlay = Overlay::ConfirmQuit;
            return Ok(None);
        }
        Ok(Some(self.start_quitting()))
    }

    fn start_quitting(&mut self) -> Command {
        self.quitting = true;
        Command::Quit
    }

    fn unbound_hint(&self, name: &str) -> String {
        match self.overlay {
            Overlay::Help => format!("{name}: not in the help; Esc closes it"),
            Overlay::ConfirmQuit => format!("{name}: answer y (hang up and quit) or n"),
            Overlay::Trace(_) => format!("{name}: in the trace ↑↓ pick, Enter open, Esc back"),
            Overlay::Prompt(_) => format!("{name}: type, then Enter; Esc cancels"),
            Overlay::None => format!("{name} does nothing; ? lists the keys"),
        }
    }
}

fn next_filter(level: LogLevel) -> LogLevel {
    match level {
        LogLevel::Error => LogLevel::Warn,
        LogLevel::Warn => LogLevel::Info,
        LogLevel::Info => LogLevel::Debug,
        LogLevel::Debug => LogLevel::Error,
    }
}
