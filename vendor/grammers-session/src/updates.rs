// Copyright 2020 - developers of the `grammers` project.
//
// Licensed under the Apache License, Version 2.0 <LICENSE-APACHE or
// https://www.apache.org/licenses/LICENSE-2.0> or the MIT license
// <LICENSE-MIT or https://opensource.org/licenses/MIT>, at your
// option. This file may not be copied, modified, or distributed
// except according to those terms.

//! Logic and types for [Working with Updates](https://core.telegram.org/api/updates).

pub use crate::message_box::{
    Gap, MessageBox, MessageBoxes, PrematureEndReason, State, UpdateAndPeers, UpdatesLike,
};
