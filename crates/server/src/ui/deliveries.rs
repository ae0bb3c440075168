//! Flow-end deliveries: the list with a status filter, one delivery with
//! its attempts (status, duration, response excerpt), resending one, and
//! recovering a time window of failures — `GET /v1/deliveries`,
//! `GET /v1/deliveries/{id}`, `POST …/resend` and `POST /v1/deliveries/recover`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::csrf::CsrfForm;
use super::executions::utc;
use super::session::SignedIn;
use super::{Page, UiError, pretty, render, value};
use crate::api::auth::AccountCaller;
use crate::api::deliveries::{self as api, ListQuery, RecoverWindow};
use crate::api::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

#[derive(Deserialize, Serialize, Default)]
pub struct Filters {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize, Serialize, Default)]
pub struct RecoverForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

async fn list_page(
    state: &AppState,
    signed: &SignedIn,
    filters: &Filters,
    recover: &RecoverForm,
    notice: Option<String>,
    errors: BTreeMap<String, Vec<String>>,
) -> Result<Html<String>, UiError> {
    let me = signed.account()?.clone();
    let mut query = serde_json::Map::new();
    if !filters.status.is_empty() {
        query.insert("status".into(), filters.status.clone().into());
    }
    let (deliveries, error) = match serde_json::from_value::<ListQuery>(query.into()) {
        Ok(q) => (
            api::list_deliveries(State(state.clone()), AccountCaller(me), ApiQuery(q))
                .await?
                .0,
            None,
        ),
        Err(e) => (Vec::new(), Some(format!("The filter is not valid: {e}."))),
    };
    render(
        state,
        &Page::of(signed, "deliveries", "Deliveries"),
        "deliveries.html",
        minijinja::context! {
            deliveries => value(&deliveries),
            filters => value(filters),
            recover => value(recover),
            notice => notice,
            error => error,
            errors => errors,
        },
    )
}

/// `GET /ui/deliveries`.
pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, UiError> {
    list_page(
        &state,
        &signed,
        &filters,
        &RecoverForm::default(),
        None,
        BTreeMap::new(),
    )
    .await
}

async fn delivery_page(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    notice: Option<String>,
) -> Result<Html<String>, UiError> {
    let me = signed.account()?.clone();
    let d = api::get_delivery(State(state.clone()), AccountCaller(me), Path(id.to_owned()))
        .await?
        .0;
    let title = format!("Delivery {}", d.id);
    render(
        state,
        &Page::of(signed, "deliveries", &title),
        "delivery.html",
        minijinja::context! {
            d => value(&d),
            // The body as sent, its credential-named keys as `***`.
            payload => d.payload.as_ref().map(|p| pretty(&flowhook_core::webhook::redact_json(p))),
            notice => notice,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct Shown {
    #[serde(default)]
    resent: Option<String>,
}

/// `GET /ui/deliveries/{id}` (`?resent=1` after a resend).
pub async fn show(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Html<String>, UiError> {
    let notice = shown
        .resent
        .map(|_| "Queued again: the next attempt is made now. Reload to see it.".to_owned());
    delivery_page(&state, &signed, &id, notice).await
}

/// `POST /ui/deliveries/{id}/resend`, then to the delivery's page (so a
/// reload reads it again rather than resending).
pub async fn resend(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<BTreeMap<String, String>>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let _requeued =
        api::resend_delivery(State(state.clone()), AccountCaller(me), Path(id.clone())).await?;
    Ok(Redirect::to(&format!("/ui/deliveries/{id}?resent=1")).into_response())
}

/// `POST /ui/deliveries/recover`: queue every failure of a window again.
pub async fn recover(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<RecoverForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let window = serde_json::from_value::<RecoverWindow>(serde_json::json!({
        "from": utc(&form.from), "to": utc(&form.to),
    }));
    let outcome = match window {
        Err(e) => Err(format!("Give both times: {e}.")),
        Ok(window) => {
            match api::recover_deliveries(State(state.clone()), AccountCaller(me), ApiJson(window))
                .await
            {
                Ok((_, axum::Json(r))) => {
                    Ok(format!("{} failed deliveries queued again.", r.requeued))
                }
                Err(e) if e.status.is_client_error() => Err(e.detail),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let filters = Filters::default();
    match outcome {
        Ok(notice) => Ok(list_page(
            &state,
            &signed,
            &filters,
            &RecoverForm::default(),
            Some(notice),
            BTreeMap::new(),
        )
        .await?
        .into_response()),
        Err(message) => {
            let errors = BTreeMap::from([("window".to_owned(), vec![message])]);
            let html = list_page(&state, &signed, &filters, &form, None, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}
