//! Cedar entities for principals and resources. A path is `in` every directory above it; a URL
//! is `in` its host; a human is `in` their roles and tenant.

use std::collections::{HashMap, HashSet};

use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};

use crate::bounds;
use crate::request::{Principal, Resource, UrlParts, url_id};
use crate::schema::CordonSchema;

/// An entity could not be built (an attribute Cedar refuses).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build entity `{uid}`: {message}")]
pub struct EntityError {
    uid: String,
    message: String,
}

impl EntityError {
    pub(crate) fn new(uid: String, message: String) -> Self {
        EntityError { uid, message }
    }
}

pub(crate) fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

fn entity(
    uid: EntityUid,
    attrs: HashMap<String, RestrictedExpression>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, EntityError> {
    let name = uid.to_string();
    Entity::new(uid, attrs, parents).map_err(|e| EntityError {
        uid: name,
        message: e.to_string(),
    })
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

/// The agent's uid: `Cordon::Agent::"<tenant>/<digest>"`.
pub(crate) fn agent_uid(schema: &CordonSchema, p: &Principal) -> EntityUid {
    uid(&schema.agent, &format!("{}/{}", p.tenant, p.digest))
}

/// The agent entity and, when there is one, the human it acts for.
pub(crate) fn principal_entities(
    schema: &CordonSchema,
    p: &Principal,
) -> Result<Vec<Entity>, EntityError> {
    let tenant = uid(&schema.tenant, &p.tenant);
    let mut attrs = HashMap::from([
        (
            "tenant".to_owned(),
            RestrictedExpression::new_entity_uid(tenant.clone()),
        ),
        ("digest".to_owned(), string(&p.digest)),
    ]);
    let mut out = Vec::with_capacity(2);
    if let Some(h) = &p.human {
        let human = uid(&schema.human, &h.id);
        attrs.insert(
            "human".to_owned(),
            RestrictedExpression::new_entity_uid(human.clone()),
        );
        let mut parents: HashSet<EntityUid> =
            h.roles.iter().map(|r| uid(&schema.role, r)).collect();
        parents.insert(tenant.clone());
        out.push(entity(human, HashMap::new(), parents)?);
    }
    out.push(entity(
        agent_uid(schema, p),
        attrs,
        HashSet::from([tenant]),
    )?);
    Ok(out)
}

/// The resource's uid.
pub(crate) fn resource_uid(schema: &CordonSchema, r: &Resource) -> EntityUid {
    match r {
        Resource::File(p) => uid(&schema.file, p),
        Resource::Dir(p) => uid(&schema.dir, p),
        Resource::Url(u) => uid(&schema.url, &url_id(u)),
        Resource::Record(r) => crate::records::record_uid(schema, &r.collection, &r.id),
        Resource::Field(f) => crate::records::field_uid(schema, &f.collection, &f.name),
    }
}

/// The resource entity and every entity above it. A resource over the bounds of
/// [`crate::bounds`] is refused before anything is built (the host checks them before it asks;
/// this keeps a request deserialized from elsewhere just as cheap).
pub(crate) fn resource_entities(
    schema: &CordonSchema,
    r: &Resource,
) -> Result<Vec<Entity>, EntityError> {
    let bounded = match r {
        Resource::File(p) | Resource::Dir(p) => bounds::check_path(p),
        Resource::Url(u) => bounds::check_url(&u.path).and_then(|()| bounds::check_url(&u.host)),
        // Records and fields come from the operator's store, not from the guest; the guest's
        // collection, id and field names are bounded by the host before the store is asked.
        Resource::Record(_) | Resource::Field(_) => Ok(()),
    };
    bounded.map_err(|e| EntityError::new(e.what.to_owned(), e.to_string()))?;
    match r {
        Resource::File(path) => {
            let (name, extension) = split_name(path);
            let attrs = HashMap::from([
                ("path".to_owned(), string(path)),
                ("name".to_owned(), string(name)),
                ("extension".to_owned(), string(extension)),
            ]);
            let mut out = dir_chain(schema, parent(path))?;
            let parents = parent(path)
                .map(|d| uid(&schema.dir, d))
                .into_iter()
                .collect();
            out.push(entity(uid(&schema.file, path), attrs, parents)?);
            Ok(out)
        }
        Resource::Dir(path) => dir_chain(schema, Some(path)),
        Resource::Url(u) => url_entities(schema, u),
        Resource::Record(r) => crate::records::record_entities(schema, &r.collection, &r.attrs()),
        Resource::Field(f) => crate::records::field_entities(schema, f),
    }
}

fn url_entities(schema: &CordonSchema, u: &UrlParts) -> Result<Vec<Entity>, EntityError> {
    let host = uid(&schema.host, &u.host);
    let attrs = HashMap::from([
        ("scheme".to_owned(), string(&u.scheme)),
        ("host".to_owned(), string(&u.host)),
        (
            "port".to_owned(),
            RestrictedExpression::new_long(i64::from(u.port)),
        ),
        ("path".to_owned(), string(&u.path)),
    ]);
    Ok(vec![
        entity(host.clone(), HashMap::new(), HashSet::new())?,
        entity(uid(&schema.url, &url_id(u)), attrs, HashSet::from([host]))?,
    ])
}

/// `dir` and every directory above it, each `in` its parent.
fn dir_chain(schema: &CordonSchema, mut dir: Option<&str>) -> Result<Vec<Entity>, EntityError> {
    let mut out = Vec::new();
    while let Some(d) = dir {
        let up = parent(d);
        let attrs = HashMap::from([("path".to_owned(), string(d))]);
        let parents = up.map(|p| uid(&schema.dir, p)).into_iter().collect();
        out.push(entity(uid(&schema.dir, d), attrs, parents)?);
        dir = up;
    }
    Ok(out)
}

/// The parent of a normalized absolute path; `None` for the root.
pub(crate) fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

pub(crate) fn split_name(path: &str) -> (&str, &str) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = match name.rfind('.') {
        Some(i) if i > 0 => &name[i + 1..],
        _ => "",
    };
    (name, extension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_walks_up_to_the_root() {
        assert_eq!(parent("/a/b/c"), Some("/a/b"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
    }

    #[test]
    fn names_and_extensions_are_split_like_a_user_expects() {
        assert_eq!(split_name("/a/report.csv"), ("report.csv", "csv"));
        assert_eq!(split_name("/a/.env"), (".env", ""));
        assert_eq!(split_name("/a/archive.tar.gz"), ("archive.tar.gz", "gz"));
        assert_eq!(split_name("/README"), ("README", ""));
    }

    #[test]
    fn a_file_entity_comes_with_every_directory_above_it() {
        let schema = CordonSchema::get().unwrap();
        let es = resource_entities(schema, &Resource::File("/a/b/c.txt".into())).unwrap();
        let ids: Vec<String> = es.iter().map(|e| e.uid().to_string()).collect();
        assert_eq!(
            ids,
            [
                r#"Cordon::Dir::"/a/b""#,
                r#"Cordon::Dir::"/a""#,
                r#"Cordon::Dir::"/""#,
                r#"Cordon::File::"/a/b/c.txt""#
            ]
        );
    }
}
