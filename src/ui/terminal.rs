//! Owning the terminal: raw mode, the alternate screen and a hidden cursor while the TUI runs,
//! and the way back on every exit path — normal return, error, panic (a hook restores the
//! terminal before the panic message prints, so the message is readable), and signals (the
//! event loop turns those into a normal return).

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

pub type Screen = Terminal<CrosstermBackend<Stdout>>;

/// Set by the panic hook: the terminal has been handed back because some thread panicked.
static PANICKED: AtomicBool = AtomicBool::new(false);
/// The terminal is in TUI mode. Restoring twice is not harmless: leaving the alternate screen
/// (`CSI ? 1049 l`) also restores the cursor saved on entry, so a second restore after the
/// panic message jumps the cursor back up and later output overwrites the message.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// The terminal in TUI mode; dropping it restores the terminal.
pub struct TerminalGuard {
    screen: Screen,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let entered = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(mut screen) => {
                screen.clear()?;
                Ok(TerminalGuard { screen })
            }
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    pub fn screen(&mut self) -> &mut Screen {
        &mut self.screen
    }

    /// Rings the terminal bell. Written through the backend so it is ordered with the frames.
    pub fn bell(&mut self) -> io::Result<()> {
        let backend = self.screen.backend_mut();
        backend.write_all(b"\x07")?;
        backend.flush()
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as we found it; does nothing when it is not in TUI mode.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    }
}

/// True once a panic (on any thread) handed the terminal back; the TUI then stops drawing.
pub fn panicked() -> bool {
    PANICKED.load(Ordering::Relaxed)
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::Relaxed);
            restore();
            previous(info);
        }));
    });
}
