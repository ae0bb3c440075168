//! `shortURL`: a short link to `$flow.key.longUrl` on the account's short
//! domain, answered as `$flow.key.shortUrl`. The link is made by
//! [`crate::links::Links`], the same code behind `POST /UrlShortner/shortUrl`.

use flowhook_core::internal::{Key, Keys, output};
use flowhook_core::links::LongUrl;

use super::Context;

pub(crate) async fn short_url(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, String> {
    let long = keys.require("longUrl")?;
    let long = LongUrl::parse(long).map_err(|e| format!("longUrl: {e}"))?;
    let link = cx
        .links
        .shorten(cx.account, &long)
        .await
        .map_err(|e| format!("the short-link store failed: {e}"))?;
    Ok(vec![output("shortUrl", link.short_url)])
}
