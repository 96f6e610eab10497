//! search-service's tests at its own boundaries, each run on both backends: the index
//! conformance suite ([`index_conformance`], every [`SearchIndex`] backend) and the
//! service over gRPC ([`service`], a real store and bus: SQLite with the in-process bus,
//! PostgreSQL with RabbitMQ).
//!
//! PostgreSQL at `TALKAPP_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, rights to create databases), RabbitMQ
//! at `TALKAPP_TEST_AMQP_URL`. One backend alone: `-E 'test(/^sqlite::/)'`.
//!
//! [`SearchIndex`]: talkapp_search_service::index::SearchIndex

mod helpers;
mod index_conformance;
mod service;

/// For each named test, one `#[tokio::test]` per backend, in the modules `postgres` and
/// `sqlite`.
macro_rules! on_every_backend {
    ($($module:ident :: $test:ident),* $(,)?) => {
        on_every_backend!(@backend postgres, Postgres, [$($module::$test),*]);
        on_every_backend!(@backend sqlite, Sqlite, [$($module::$test),*]);
    };
    (@backend $backend_module:ident, $backend:ident, [$($module:ident :: $test:ident),*]) => {
        mod $backend_module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::helpers::with_place(crate::helpers::Backend::$backend, |place| {
                        crate::$module::$test(place)
                    })
                    .await;
                }
            )*
        }
    };
}

on_every_backend! {
    index_conformance::word_prefixes_find_messages_of_that_account_only,
    index_conformance::an_edit_replaces_the_terms_and_a_deletion_removes_them,
    index_conformance::filters_are_exact_at_their_edges_and_pages_follow_the_order,
    index_conformance::chats_keep_a_known_phone_and_accounts_are_forgotten_whole,
    index_conformance::reopening_keeps_the_schema_and_the_data,
    index_conformance::search_syntax_in_terms_is_never_an_error,
    index_conformance::found_messages_are_added_once_and_never_over_what_the_events_wrote,
    index_conformance::an_older_event_told_after_a_newer_one_changes_nothing,
    index_conformance::a_deletion_is_final_and_its_tombstone_neither_shows_nor_counts,
    index_conformance::builds_never_overwrite_what_an_event_wrote_and_events_overwrite_builds,
    index_conformance::tombstones_outlive_a_rebuild_and_go_at_the_sweep,
    service::a_new_message_is_searchable_within_a_second_and_edits_and_deletes_follow,
    service::events_told_again_in_their_order_leave_the_index_where_it_was,
    service::older_events_told_after_newer_ones_bring_back_no_edit_or_deletion,
    service::hits_carry_the_message_its_chat_and_the_matched_ranges,
    service::uzbek_russian_and_english_are_found_across_scripts_and_spellings,
    service::filters_are_inclusive_and_exact_at_the_edges_and_pages_do_not_repeat,
    service::bad_input_is_refused_and_search_syntax_is_plain_text,
    service::another_users_account_is_out_of_reach,
    service::one_search_covers_every_account_of_the_user_and_names_each,
    service::the_index_is_built_from_the_cache_at_start_and_on_demand,
    service::chats_are_found_by_title_username_name_and_phone_with_a_typo,
    service::telegram_hits_are_merged_without_duplicates_and_flood_wait_marks_partial,
    service::telegram_hits_are_indexed_and_follow_edits_and_deletes_and_a_stale_one_stays_out,
    service::contacts_are_filtered_with_the_search_folding_and_paged,
}
