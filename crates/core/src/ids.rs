//! Identifiers of flowhook's resources, parsed once at the boundary.
//!
//! Accounts, webhooks, executions, deliveries, agents and reports are named by UUIDs
//! (version 7, so they sort by creation time); flows by the 8-character ids of
//! the original platform (SPEC §3). A value of these types is always well-formed.

use serde::{Deserialize, Serialize};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("`{s}` is not a UUID like {}", UUID_EXAMPLE))
                })
            }
        }

        impl $name {
            /// A new, time-ordered id.
            pub fn generate() -> Self {
                $name(uuid::Uuid::now_v7())
            }
            /// The all-zero id: a placeholder no resource has.
            pub fn nil() -> Self {
                $name(uuid::Uuid::nil())
            }
            /// The hyphenated form only (`format: uuid`), in either case.
            pub fn parse(s: &str) -> Option<Self> {
                (s.len() == 36).then(|| uuid::Uuid::try_parse(s).ok()).flatten().map($name)
            }
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                uuid_schema()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

const UUID_EXAMPLE: &str = "01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70";

fn uuid_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Uuid,
        )))
        .examples([UUID_EXAMPLE])
        .into()
}

uuid_id!(
    /// A tenant.
    AccountId
);
uuid_id!(
    /// A configured webhook destination of an account.
    WebhookId
);
uuid_id!(
    /// One run of a flow (the `phonon-uuid` of the wire format).
    ExecutionId
);
uuid_id!(
    /// One flow-end message to one webhook.
    DeliveryId
);
uuid_id!(
    /// A direct-dial agent of an account.
    AgentId
);
uuid_id!(
    /// An executions report (`pullreport`, `POST /v1/reports`).
    ReportId
);
uuid_id!(
    /// An outbound request (`createOutbound`, `POST /v1/outbound`).
    OutboundRequestId
);
uuid_id!(
    /// One scheduled outbound execution: a contact number of a request.
    OutboundCallId
);

/// A flow id: 8 characters of `[A-Za-z0-9]` (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FlowId(String);

impl FlowId {
    const ALPHABET: &'static [u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    pub fn generate() -> FlowId {
        let bytes = crate::secret::random_bytes::<8>();
        // 256 is not a multiple of 62, so take each byte modulo 62: the bias is
        // below 2% and ids are identifiers, not secrets.
        FlowId(
            bytes
                .iter()
                .map(|b| Self::ALPHABET[*b as usize % Self::ALPHABET.len()] as char)
                .collect(),
        )
    }

    pub fn parse(s: &str) -> Option<FlowId> {
        (s.len() == 8 && s.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| FlowId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for FlowId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Za-z0-9]{8}$"))
            .examples(["Ab3dE6gH"])
            .into()
    }
}

impl utoipa::ToSchema for FlowId {}

impl<'de> Deserialize<'de> for FlowId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FlowId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("a flow id is 8 characters of A-Z, a-z, 0-9"))
    }
}

impl std::fmt::Display for FlowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_ids_are_eight_alphanumerics() {
        for _ in 0..100 {
            let id = FlowId::generate();
            assert_eq!(FlowId::parse(id.as_str()), Some(id));
        }
        assert!(FlowId::parse("Ab3dE6gH").is_some());
        assert!(FlowId::parse("Ab3dE6g").is_none());
        assert!(FlowId::parse("Ab3dE6g!").is_none());
    }

    #[test]
    fn uuid_ids_round_trip() {
        let id = AccountId::generate();
        assert_eq!(AccountId::parse(&id.to_string()), Some(id));
        assert!(AccountId::parse("nope").is_none());
    }
}
