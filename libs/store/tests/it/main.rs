//! Conformance suite for `talkapp_store::Store`: every test in [`conformance`] runs against
//! PostgreSQL (`postgres::<test>`) and SQLite (`sqlite::<test>`), each on a fresh database.
//!
//! PostgreSQL must be reachable at `TALKAPP_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) with rights to create databases.
//! Run one backend with e.g. `cargo nextest run -p talkapp-store -E 'test(/^sqlite::/)'`.

mod conformance;
mod helpers;
mod media;
mod migration_runner;
mod sqlite_migrations;
mod thread_pools;

/// Generates, for each named test in [`conformance`], one `#[tokio::test]` per backend,
/// grouped in the modules `postgres` and `sqlite` (`macro_rules!` cannot build the
/// identifier `postgres_<name>`, so the backend is the module instead).
///
/// Tests under `store` take the store; tests under `reopening` also take a
/// [`helpers::StoreOpener`] to open more stores on the same database; tests under `media`
/// take the narrow `MediaStore` (`media.rs`).
macro_rules! conformance_tests {
    (
        store: [$($test:ident),* $(,)?],
        reopening: [$($reopening:ident),* $(,)?],
        media: [$($media:ident),* $(,)?] $(,)?
    ) => {
        conformance_tests!(@backend postgres, Postgres, [$($test),*], [$($reopening),*], [$($media),*]);
        conformance_tests!(@backend sqlite, Sqlite, [$($test),*], [$($reopening),*], [$($media),*]);
    };
    (@backend $module:ident, $backend:ident, [$($test:ident),*], [$($reopening:ident),*], [$($media:ident),*]) => {
        mod $module {
            use crate::conformance;
            use crate::helpers::{Backend, run};

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    run(Backend::$backend, |store, _| conformance::$test(store)).await;
                }
            )*

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $reopening() {
                    run(Backend::$backend, conformance::$reopening).await;
                }
            )*

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $media() {
                    run(Backend::$backend, |_, opener| async move {
                        crate::media::$media(opener.open_media().await).await;
                    })
                    .await;
                }
            )*
        }
    };
}

conformance_tests! {
    store: [
        the_store_answers_a_ping,
        each_process_view_is_the_one_store_and_answers_the_readiness_probe,
        a_created_user_is_found_by_id_and_by_normalised_email,
        an_unknown_user_is_not_found,
        a_duplicate_email_is_a_conflict,
        recording_a_sign_in_sets_last_sign_in_at,
        an_auth_session_round_trips,
        an_unknown_auth_session_is_not_found,
        touching_a_session_moves_last_seen_forward_but_never_backward,
        revoking_a_session_sets_revoked_at_and_a_second_revoke_keeps_the_first_time,
        an_unknown_refresh_token_is_unknown,
        rotating_a_refresh_token_returns_the_session_before_this_use_and_moves_last_seen_at,
        presenting_a_spent_refresh_token_again_revokes_the_session,
        reusing_a_token_of_a_signed_out_session_keeps_the_sign_out_time,
        concurrent_rotations_of_one_token_let_exactly_one_through,
        linked_telegram_sessions_are_numbered_per_user_and_listed_in_order,
        a_user_without_telegram_sessions_has_an_empty_list,
        linked_accounts_are_listed_with_their_own_cached_users,
        large_telegram_user_ids_and_unicode_names_round_trip,
        concurrent_links_of_one_user_get_distinct_indexes,
        a_phone_is_linked_once_per_user_but_other_users_may_link_it,
        a_hosted_session_carries_its_sealed_blob_shard_and_status,
        hosted_sessions_are_selected_by_shard,
        an_unlinked_index_is_never_given_out_again,
        a_pending_login_round_trips_counts_attempts_and_advances,
        concurrent_login_attempts_are_each_counted,
        expired_logins_are_purged_and_live_ones_kept,
        the_chat_list_pages_by_activity_with_filters_and_no_repeats,
        a_chat_list_page_carries_each_chats_newest_message_and_the_users_it_shows,
        a_chat_the_account_left_is_not_listed_but_still_known,
        new_messages_move_the_chat_up_and_count_unread_once,
        history_pages_by_id_and_the_date_filter_is_exact_at_its_edges,
        a_history_page_reads_as_the_chat_its_messages_and_their_senders_do,
        deletions_without_a_chat_spare_channels_and_move_the_top,
        the_history_floor_only_moves_down_and_completeness_sticks,
        an_accounts_cached_messages_are_read_in_pages_and_its_chats_by_id,
        users_are_upserted_keeping_a_known_phone_and_caches_clear,
        messages_from_updates_bring_the_history_floor_down_as_they_are_stored,
        a_repeated_idempotency_key_returns_the_first_job,
        a_media_job_keeps_its_files,
        concurrent_creates_with_one_idempotency_key_make_one_job,
        a_job_moves_from_queued_to_sent_or_failed_and_then_stays,
        sent_jobs_up_to_the_read_mark_become_read,
        a_job_in_a_known_chat_is_made_only_when_the_cache_has_the_chat,
        an_announced_job_is_claimed_only_when_no_older_job_waits,
        a_final_job_is_not_marked_published,
        unpublished_jobs_are_found_by_shard_until_published,
        accounts_with_waiting_jobs_are_found_by_shard_and_age_until_done,
        event_ids_only_grow_and_are_never_given_twice,
        push_subscriptions_are_kept_per_user_and_endpoint,
        audit_records_are_paged_newest_first_per_user_and_by_action,
        an_audit_batch_keeps_its_order_and_every_field,
        the_audit_retention_sweep_removes_only_older_records,
        users_are_listed_in_creation_order_with_their_counts,
        disabling_keeps_the_first_time_and_ending_sessions_names_them,
        linked_accounts_are_counted_per_user_and_drop_with_an_unlink,
        the_activity_summary_counts_users_active_ones_accounts_and_waiting_jobs,
        an_external_subject_is_disabled_once_listed_and_enabled_again,
        external_subjects_seen_count_as_active_users,
        external_subjects_are_listed_seen_disabled_or_linked_in_id_order,
        an_external_subject_is_read_alone_once_seen_disabled_or_linked,
        user_activity_adds_up_per_day_and_old_days_go,
        an_action_key_gives_retries_the_first_result_and_refuses_other_requests,
        concurrent_claims_of_one_action_key_let_one_caller_act,
        a_sessions_names_follow_the_accounts_profile,
        an_accounts_sent_files_are_recalled_bounded_forgotten_and_unlinked_with_it,
    ],
    reopening: [
        opening_the_same_database_again_keeps_the_schema_and_the_data,
    ],
    media: [
        a_reserved_file_is_invisible_until_completed_and_then_only_to_its_owner,
        the_quota_counts_every_reference_and_deletes_and_aborts_give_it_back,
        concurrent_reservations_never_pass_the_quota,
        identical_bytes_are_one_blob_collected_only_when_no_reference_remains,
        a_pinned_blob_outlives_the_deleted_file_until_the_pin_is_released,
        a_blob_being_deleted_turns_reservations_away_until_it_is_forgotten,
        stale_pending_files_are_found_for_the_sweep,
        a_pending_preview_is_listed_until_finished_and_never_finished_on_a_collected_blob,
        a_skipped_preview_is_pending_again_when_asked_for_and_a_failed_one_is_not,
        a_pending_preview_is_claimed_by_one_worker_until_its_lease_expires,
        media_metadata_round_trips,
    ],
}
