//! The jitter buffer's storage: one slot per 20 ms frame in a ring indexed by frame number,
//! with every payload buffer allocated once, up front, so filing a packet never allocates.
//! Slots are as large as the codec's frames need (160 bytes for G.711 split into 20 ms
//! frames, `MAX_PAYLOAD` otherwise): a thousand G.711 calls hold 10 KB each, not 96 KB.

use super::{CAPACITY, MAX_PAYLOAD};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Empty,
    Held {
        frame: i64,
        seq: u16,
        len: u16,
    },
    /// Remembered after playout so a late copy counts as a duplicate, not as late; the
    /// payload stays readable until the slot is reused.
    Played {
        frame: i64,
        len: u16,
    },
}

pub(super) struct Ring {
    slots: [Slot; CAPACITY],
    /// Bytes per slot in `data`.
    slot_len: usize,
    data: Box<[u8]>,
    held: usize,
    newest: i64,
}

fn index(frame: i64) -> usize {
    frame.rem_euclid(CAPACITY as i64) as usize
}

impl Ring {
    /// Room for `CAPACITY` payloads of up to `slot_len` bytes (at most `MAX_PAYLOAD`).
    pub fn new(slot_len: usize) -> Self {
        let slot_len = slot_len.clamp(1, MAX_PAYLOAD);
        Self {
            slots: [Slot::Empty; CAPACITY],
            slot_len,
            data: vec![0; CAPACITY * slot_len].into_boxed_slice(),
            held: 0,
            newest: 0,
        }
    }

    /// The largest payload a slot holds.
    pub fn slot_len(&self) -> usize {
        self.slot_len
    }

    /// Frames buffered.
    pub fn held(&self) -> usize {
        self.held
    }

    /// The newest buffered frame (meaningful while `held() > 0`).
    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// Whether `frame` is buffered or was the last one played from its slot.
    pub fn knows(&self, frame: i64) -> bool {
        matches!(
            self.slots[index(frame)],
            Slot::Held { frame: f, .. } | Slot::Played { frame: f, .. } if f == frame
        )
    }

    /// Files a frame; false if it is already here. The caller keeps buffered frames within
    /// CAPACITY of each other, so a slot never holds two live frames.
    pub fn insert(&mut self, frame: i64, seq: u16, payload: &[u8]) -> bool {
        let i = index(frame);
        if let Slot::Held { frame: f, .. } = self.slots[i] {
            if f == frame {
                return false;
            }
            self.held -= 1;
        }
        let len = payload.len().min(self.slot_len);
        let start = i * self.slot_len;
        self.data[start..start + len].copy_from_slice(&payload[..len]);
        self.slots[i] = Slot::Held {
            frame,
            seq,
            len: len as u16,
        };
        self.newest = if self.held == 0 {
            frame
        } else {
            self.newest.max(frame)
        };
        self.held += 1;
        true
    }

    /// The payload of a buffered frame, left in place.
    pub fn peek(&self, frame: i64) -> Option<&[u8]> {
        let i = index(frame);
        match self.slots[i] {
            Slot::Held { frame: f, len, .. } if f == frame => Some(self.payload(i, len)),
            _ => None,
        }
    }

    /// Marks a buffered frame played and returns its sequence number; its payload is then
    /// [`played`](Self::played). (Two steps, so the caller's borrow of the payload is shared.)
    pub fn take(&mut self, frame: i64) -> Option<u16> {
        let i = index(frame);
        match self.slots[i] {
            Slot::Held { frame: f, seq, len } if f == frame => {
                self.slots[i] = Slot::Played { frame, len };
                self.held -= 1;
                Some(seq)
            }
            _ => None,
        }
    }

    /// The payload of a frame just taken.
    pub fn played(&self, frame: i64) -> &[u8] {
        let i = index(frame);
        match self.slots[i] {
            Slot::Played { frame: f, len } if f == frame => self.payload(i, len),
            _ => &[],
        }
    }

    fn payload(&self, i: usize, len: u16) -> &[u8] {
        let start = i * self.slot_len;
        &self.data[start..start + usize::from(len)]
    }

    /// Drops a buffered frame unplayed; false if it was not here.
    pub fn discard(&mut self, frame: i64) -> bool {
        self.take(frame).is_some()
    }

    /// The first buffered frame in `from..from + CAPACITY`.
    pub fn oldest_from(&self, from: i64) -> Option<i64> {
        (from..from + CAPACITY as i64).find(|&f| self.peek(f).is_some())
    }

    /// Drops every buffered frame; with `forget_played`, the played marks too.
    pub fn clear(&mut self, forget_played: bool) {
        for slot in &mut self.slots {
            if forget_played || matches!(slot, Slot::Held { .. }) {
                *slot = Slot::Empty;
            }
        }
        self.held = 0;
    }
}
