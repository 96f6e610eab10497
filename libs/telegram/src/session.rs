//! A grammers `Session` whose whole state can be snapshotted and restored.
//!
//! grammers reads the session on every request (DC address, auth key) and writes it when
//! something changes (a new DC, the peer cache, the update state). [`StoredSession`] keeps
//! that state in memory, exactly as grammers' own `MemorySession` does, and additionally
//! counts changes on a watch channel, so the account's owner can persist a sealed
//! snapshot after each change instead of on a timer.

use std::net::SocketAddrV4;
use std::sync::{Mutex, MutexGuard};

use grammers_session::types::{
    ChannelState, DcOption, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::{Session, SessionData};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Everything a session holds, in a form that serialises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSnapshot {
    /// The account's home data center.
    pub home_dc: i32,
    /// Known data centers, with the auth key where one exists.
    pub dc_options: Vec<DcOption>,
    /// Cached peers (their access hashes are needed to address them).
    pub peers: Vec<PeerInfo>,
    /// Where the update stream stands.
    pub updates_state: UpdatesState,
}

impl SessionSnapshot {
    /// JSON bytes (sealed before they are stored).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses [`SessionSnapshot::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The session lock was poisoned by a panic while held.
#[derive(Debug, thiserror::Error)]
#[error("telegram session state is poisoned")]
pub struct PoisonedSession;

/// A grammers session with snapshots and change notification.
pub struct StoredSession {
    data: Mutex<SessionData>,
    changes: watch::Sender<u64>,
}

impl Default for StoredSession {
    fn default() -> Self {
        Self::from_data(SessionData::default())
    }
}

impl StoredSession {
    fn from_data(data: SessionData) -> Self {
        Self {
            data: Mutex::new(data),
            changes: watch::Sender::new(0),
        }
    }

    /// A session that talks to one data center at `address` with an auth key obtained out
    /// of band (the local sandbox, which cannot do Telegram's RSA handshake), and no other.
    pub fn with_preset_key(dc_id: i32, address: SocketAddrV4, auth_key: [u8; 256]) -> Self {
        let option = DcOption {
            id: dc_id,
            ipv4: address,
            ipv6: std::net::SocketAddrV6::new(address.ip().to_ipv6_mapped(), address.port(), 0, 0),
            auth_key: Some(auth_key),
        };
        let data = SessionData {
            home_dc: dc_id,
            dc_options: [(dc_id, option)].into_iter().collect(),
            ..SessionData::default()
        };
        Self::from_data(data)
    }

    /// Restores a snapshot.
    pub fn from_snapshot(snapshot: SessionSnapshot) -> Self {
        let data = SessionData {
            home_dc: snapshot.home_dc,
            dc_options: snapshot
                .dc_options
                .into_iter()
                .map(|option| (option.id, option))
                .collect(),
            peer_infos: snapshot
                .peers
                .into_iter()
                .map(|peer| (peer.id(), peer))
                .collect(),
            updates_state: snapshot.updates_state,
        };
        Self::from_data(data)
    }

    /// The whole state now.
    pub fn snapshot(&self) -> Result<SessionSnapshot, PoisonedSession> {
        let data = self.data()?;
        let mut dc_options: Vec<DcOption> = data.dc_options.values().cloned().collect();
        dc_options.sort_by_key(|option| option.id);
        Ok(SessionSnapshot {
            home_dc: data.home_dc,
            dc_options,
            peers: data.peer_infos.values().cloned().collect(),
            updates_state: data.updates_state.clone(),
        })
    }

    /// A receiver whose value moves on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn data(&self) -> Result<MutexGuard<'_, SessionData>, PoisonedSession> {
        self.data.lock().map_err(|_| PoisonedSession)
    }

    fn changed(&self) {
        self.changes
            .send_modify(|count| *count = count.wrapping_add(1));
    }
}

impl Session for StoredSession {
    type Error = PoisonedSession;

    fn home_dc_id(&self) -> Result<i32, PoisonedSession> {
        Ok(self.data()?.home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), PoisonedSession>> {
        Box::pin(async move {
            let changed = std::mem::replace(&mut self.data()?.home_dc, dc_id) != dc_id;
            if changed {
                self.changed();
            }
            Ok(())
        })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, PoisonedSession> {
        Ok(self.data()?.dc_options.get(&dc_id).cloned())
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), PoisonedSession>> {
        let dc_option = dc_option.clone();
        Box::pin(async move {
            let changed = {
                let mut data = self.data()?;
                let id = dc_option.id;
                data.dc_options.insert(id, dc_option.clone()).as_ref() != Some(&dc_option)
            };
            if changed {
                self.changed();
            }
            Ok(())
        })
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, PoisonedSession>> {
        Box::pin(async move { Ok(self.data()?.peer_infos.get(&peer).cloned()) })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), PoisonedSession>> {
        Box::pin(async move {
            let grew = {
                let mut data = self.data()?;
                match data.peer_infos.get_mut(&peer.id()) {
                    Some(known) => known.extend_info(&peer),
                    None => {
                        data.peer_infos.insert(peer.id(), peer);
                        true
                    }
                }
            };
            if grew {
                self.changed();
            }
            Ok(())
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, PoisonedSession>> {
        Box::pin(async move { Ok(self.data()?.updates_state.clone()) })
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<(), PoisonedSession>> {
        Box::pin(async move {
            // The update stream records its state on every keepalive probe (every 30 s
            // per account) whether or not it moved: only a real change is announced, or
            // every idle account would write its sealed session to the store that often.
            let changed = {
                let mut data = self.data()?;
                let before = data.updates_state.clone();
                let state = &mut data.updates_state;
                match update {
                    UpdateState::All(updates_state) => *state = updates_state,
                    UpdateState::Primary { pts, date, seq } => {
                        state.pts = pts;
                        state.date = date;
                        state.seq = seq;
                    }
                    UpdateState::Secondary { qts } => state.qts = qts,
                    UpdateState::Channel { id, pts } => {
                        if !state
                            .channels
                            .iter()
                            .any(|channel| channel.id == id && channel.pts == pts)
                        {
                            state.channels.retain(|channel| channel.id != id);
                            state.channels.push(ChannelState { id, pts });
                        }
                    }
                }
                *state != before
            };
            if changed {
                self.changed();
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The update stream records its state on every keepalive probe, moved or not (every
    /// 30 s per account): announcing those would persist every idle account's session
    /// that often (170 store writes a second at 5,000 accounts, docs/BENCHMARKS.md).
    #[tokio::test]
    async fn setting_what_the_session_already_holds_announces_no_change() {
        let address = SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 4430);
        let session = StoredSession::with_preset_key(2, address, [7; 256]);
        let mut changes = session.subscribe();
        let primary = || UpdateState::Primary {
            pts: 42,
            date: 1_700_000_000,
            seq: 3,
        };
        session.set_update_state(primary()).await.expect("set");
        session
            .set_update_state(UpdateState::Channel { id: 9, pts: 5 })
            .await
            .expect("set");
        assert!(changes.has_changed().expect("sender alive"));
        changes.mark_unchanged();

        let held = session.updates_state().await.expect("state");
        session.set_update_state(primary()).await.expect("set");
        session
            .set_update_state(UpdateState::All(held.clone()))
            .await
            .expect("set");
        session
            .set_update_state(UpdateState::Secondary { qts: held.qts })
            .await
            .expect("set");
        session
            .set_update_state(UpdateState::Channel { id: 9, pts: 5 })
            .await
            .expect("set");
        session.set_home_dc_id(2).await.expect("set");
        let option = session.dc_option(2).expect("read").expect("dc 2 known");
        session.set_dc_option(&option).await.expect("set");
        assert!(
            !changes.has_changed().expect("sender alive"),
            "nothing moved, nothing to persist"
        );
        assert_eq!(session.updates_state().await.expect("state"), held);

        // Each real change is still announced.
        let moves = [
            (
                "pts",
                UpdateState::Primary {
                    pts: 43,
                    date: 1_700_000_000,
                    seq: 3,
                },
            ),
            ("qts", UpdateState::Secondary { qts: held.qts + 1 }),
            ("a channel's pts", UpdateState::Channel { id: 9, pts: 6 }),
            ("a new channel", UpdateState::Channel { id: 10, pts: 1 }),
        ];
        for (what, update) in moves {
            session.set_update_state(update).await.expect("set");
            assert!(
                changes.has_changed().expect("sender alive"),
                "{what} moved: announced"
            );
            changes.mark_unchanged();
        }
        session.set_home_dc_id(4).await.expect("set");
        assert!(changes.has_changed().expect("sender alive"));
        changes.mark_unchanged();
        let moved = DcOption {
            auth_key: Some([8; 256]),
            ..option
        };
        session.set_dc_option(&moved).await.expect("set");
        assert!(changes.has_changed().expect("sender alive"));
    }

    #[tokio::test]
    async fn a_snapshot_restores_the_same_state_and_changes_are_announced() {
        let address = SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 4430);
        let session = StoredSession::with_preset_key(2, address, [7; 256]);
        let mut changes = session.subscribe();
        session
            .set_update_state(UpdateState::Primary {
                pts: 42,
                date: 1_700_000_000,
                seq: 3,
            })
            .await
            .expect("set");
        assert!(changes.has_changed().expect("sender alive"));
        changes.mark_unchanged();

        let snapshot = session.snapshot().expect("snapshot");
        let bytes = snapshot.to_bytes().expect("serialise");
        let restored =
            StoredSession::from_snapshot(SessionSnapshot::from_bytes(&bytes).expect("parse"));

        assert_eq!(restored.snapshot().expect("snapshot"), snapshot);
        assert_eq!(restored.home_dc_id().expect("home"), 2);
        let option = restored.dc_option(2).expect("read").expect("dc 2 known");
        assert_eq!(option.ipv4, address);
        assert_eq!(option.auth_key, Some([7; 256]));
        assert_eq!(restored.updates_state().await.expect("state").pts, 42);
        assert!(
            restored.dc_option(1).expect("read").is_none(),
            "only the preset DC is known"
        );
    }
}
