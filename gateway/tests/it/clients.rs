//! The gateway's service clients in split mode: each HTTP worker thread calls through
//! connections of its own, made on its runtime (ADR 0055).

use std::sync::Arc;
use std::time::Duration;

use talkapp_gateway::ServiceEndpoints;
use talkapp_gateway::clients::ServiceClients;
use talkapp_proto::search::v1 as search;
use talkapp_proto::search::v1::search_service_server::{SearchService, SearchServiceServer};
use talkapp_proto::tonic::{self, Request, Response, Status};

/// A search service that answers a chat search with its query in the cursor.
struct EchoSearch;

#[tonic::async_trait]
impl SearchService for EchoSearch {
    async fn search_chats(
        &self,
        request: Request<search::SearchChatsRequest>,
    ) -> Result<Response<search::SearchChatsResponse>, Status> {
        Ok(Response::new(search::SearchChatsResponse {
            hits: Vec::new(),
            next_cursor: Some(format!("echo:{}", request.into_inner().query)),
        }))
    }

    async fn search_messages(
        &self,
        _: Request<search::SearchMessagesRequest>,
    ) -> Result<Response<search::SearchMessagesResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn rebuild_index(
        &self,
        _: Request<search::RebuildIndexRequest>,
    ) -> Result<Response<search::RebuildIndexResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn search_contacts(
        &self,
        _: Request<search::SearchContactsRequest>,
    ) -> Result<Response<search::SearchContactsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A chat search for `query` on a new thread with a runtime of its own (as an HTTP
/// worker has), after making that thread's own connections when `open`.
fn search_on_a_new_thread(
    clients: &Arc<ServiceClients>,
    open: bool,
    query: &str,
) -> Result<Option<String>, String> {
    let clients = Arc::clone(clients);
    let query = query.to_owned();
    std::thread::spawn(move || {
        current_thread_runtime().block_on(async move {
            if open {
                clients.open_on_this_thread();
            }
            let call = clients.search_chats(search::SearchChatsRequest {
                query,
                ..Default::default()
            });
            match tokio::time::timeout(Duration::from_secs(10), call).await {
                Ok(Ok(response)) => Ok(response.next_cursor),
                Ok(Err(error)) => Err(format!("{:?}", error.code)),
                Err(_) => Err("no answer within 10 s".to_owned()),
            }
        })
    })
    .join()
    .expect("the thread ends")
}

#[test]
fn a_threads_own_connections_serve_its_calls_where_the_shared_ones_runtime_is_gone() {
    // The service, on a runtime that lasts the whole test.
    let service_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = service_runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    service_runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(SearchServiceServer::new(EchoSearch))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let endpoints = ServiceEndpoints {
        chat: url.clone(),
        media: url.clone(),
        search: url.clone(),
        realtime: url,
        in_process: None,
    };
    // The shared connections are made on a runtime that then ends: their tasks end
    // with it. (The gateway makes them on its main runtime, which lasts; this only
    // tells which connection a call went through.)
    let clients = {
        let start = current_thread_runtime();
        let _entered = start.enter();
        Arc::new(ServiceClients::connect_lazy(&endpoints, Duration::from_secs(5)).expect("clients"))
    };

    // A thread without connections of its own calls through the shared ones: gone.
    let shared = search_on_a_new_thread(&clients, false, "shared");
    assert!(shared.is_err(), "{shared:?}");

    // A thread with its own is answered through them, and so is the next such thread.
    assert_eq!(
        search_on_a_new_thread(&clients, true, "first worker"),
        Ok(Some("echo:first worker".to_owned()))
    );
    assert_eq!(
        search_on_a_new_thread(&clients, true, "second worker"),
        Ok(Some("echo:second worker".to_owned()))
    );
}
