//! `skydive client`: a small HTTP/1.1 client of the analyzer's REST API (plain HTTP).

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::cli::{CaptureCommand, ClientCommand, Format, TopologyCommand};

/// Runs one client command, printing its answer on stdout.
pub async fn run(analyzer: &str, command: ClientCommand) -> anyhow::Result<()> {
    let out = match command {
        ClientCommand::Query { gremlin, format }
        | ClientCommand::Topology {
            command: TopologyCommand::Query { gremlin, format },
        } => query(analyzer, &gremlin, format).await?,
        ClientCommand::Status => {
            pretty(&call(analyzer, Method::GET, "/api/status", None, None).await?)?
        }
        ClientCommand::Topology {
            command: TopologyCommand::Export,
        } => pretty(&call(analyzer, Method::GET, "/api/topology", None, None).await?)?,
        ClientCommand::Capture { command } => capture(analyzer, command).await?,
    };
    println!("{out}");
    Ok(())
}

async fn query(analyzer: &str, gremlin: &str, format: Format) -> anyhow::Result<String> {
    let body = serde_json::to_vec(&serde_json::json!({ "GremlinQuery": gremlin }))?;
    let accept = match format {
        Format::Json => "application/json",
        Format::Dot => "text/vnd.graphviz",
    };
    let bytes = call(
        analyzer,
        Method::POST,
        "/api/topology",
        Some(body),
        Some(accept),
    )
    .await?;
    match format {
        Format::Json if bytes.is_empty() => Ok("[]".to_owned()),
        Format::Json => pretty(&bytes),
        Format::Dot => Ok(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

async fn capture(analyzer: &str, command: CaptureCommand) -> anyhow::Result<String> {
    match command {
        CaptureCommand::Create(a) => {
            let body = serde_json::to_vec(&serde_json::json!({
                "GremlinQuery": a.gremlin,
                "Type": a.kind,
                "BPFFilter": a.bpf,
                "Name": a.name,
                "Description": a.description,
                "HeaderSize": a.header_size,
                "SamplingRate": a.sampling_rate,
                "PollingInterval": a.polling_interval,
                "Port": a.port,
                "LayerKeyMode": a.layer_key_mode,
            }))?;
            pretty(&call(analyzer, Method::POST, "/api/capture", Some(body), None).await?)
        }
        CaptureCommand::List => {
            pretty(&call(analyzer, Method::GET, "/api/capture", None, None).await?)
        }
        CaptureCommand::Delete { id } => {
            call(
                analyzer,
                Method::DELETE,
                &format!("/api/capture/{id}"),
                None,
                None,
            )
            .await?;
            Ok(String::new())
        }
    }
}

fn pretty(bytes: &[u8]) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .context("the analyzer answered something that is not JSON")?;
    Ok(serde_json::to_string_pretty(&v)?)
}

/// One request; an error status becomes an error carrying the analyzer's message.
async fn call(
    analyzer: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    accept: Option<&str>,
) -> anyhow::Result<Bytes> {
    let stream = TcpStream::connect(analyzer).await.with_context(|| {
        format!("cannot connect to the analyzer at {analyzer} (is it running? see --analyzer)")
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake with the analyzer failed")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("Host", analyzer);
    if body.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let resp = sender
        .send_request(req)
        .await
        .context("request to the analyzer failed")?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .context("reading the analyzer's answer")?
        .to_bytes();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return Ok(bytes);
    }
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    bail!("{status}: {message}")
}
