//! Chat actions ("typing...") by the names the API gives them.

use talkapp_telegram::model::ChatAction;

/// The chat actions a client may send, by their API names.
const ACTIONS: &[(&str, ChatAction)] = &[
    ("typing", ChatAction::Typing),
    ("cancel", ChatAction::Cancel),
    ("recording_voice", ChatAction::RecordingVoice),
    ("recording_video", ChatAction::RecordingVideo),
    ("uploading_photo", ChatAction::UploadingPhoto),
    ("uploading_video", ChatAction::UploadingVideo),
    ("uploading_document", ChatAction::UploadingDocument),
];

/// A chat action's API name (`other` for what Telegram has and the API does not name).
pub fn action_name(action: ChatAction) -> &'static str {
    ACTIONS
        .iter()
        .find(|(_, known)| *known == action)
        .map_or("other", |(name, _)| name)
}

/// The chat action an API name stands for; `None` for names a client may not send.
pub fn parse_action(name: &str) -> Option<ChatAction> {
    ACTIONS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, action)| *action)
}

/// The API names of the chat actions a client may send, for error messages.
pub fn action_names() -> String {
    let names: Vec<&str> = ACTIONS.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}
