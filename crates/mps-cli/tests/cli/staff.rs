//! Staff and POS keys through the terminal client: a cashier logs in with `--username`, the owner
//! creates, lists and revokes a till's key.

use crate::harness::{Server, Terminal};
use crate::helpers::PASSWORD;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashier_logs_in_by_username_and_the_owner_manages_pos_keys() {
    let server = Server::start().await;
    let admin = server.app.admin().await;
    let merchant = admin.create_merchant("Corner Café").await;
    let owner_api = server.app.merchant_client(&merchant).await;
    let hired = owner_api
        .post(
            "/merchant/staff",
            serde_json::json!({ "username": "ann", "name": "Ann", "role": "cashier", "password": PASSWORD }),
        )
        .await;
    assert_eq!(hired.status, 201, "{}", hired.text);

    let cashier = Terminal::new(&server.url());
    cashier.login("merchant", &merchant.code, &["--username", "ann"]).await;
    let me = cashier.json(&["whoami"], &[]).await;
    assert_eq!(me["user"]["staff_role"], "cashier", "{me}");
    assert_eq!(me["user"]["name"], "Ann");
    let refused = cashier.run(&["keys", "list"], &[]).await;
    assert_ne!(refused.code, 0, "a cashier cannot list keys: {refused:?}");

    let owner = Terminal::new(&server.url());
    owner.login("merchant", &merchant.code, &[]).await;
    let created = owner
        .json(
            &[
                "keys",
                "create",
                "--name",
                "Till 1",
                "--store",
                "MAIN",
                "--permission",
                "charge,read",
                "--terminal",
                "T1",
            ],
            &[],
        )
        .await;
    let secret = created["secret"].as_str().expect("the secret, shown once");
    assert!(secret.starts_with("mps_pos_"), "{created}");
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    let listed = owner.json(&["keys", "list", "--count"], &[]).await;
    assert_eq!(listed["pagination"]["total_count"], 1, "{listed}");
    assert!(!listed.to_string().contains(secret), "lists never show the secret");
    let table = owner.ok(&["keys", "list"], &[]).await.stdout;
    assert!(table.contains("Till 1") && table.contains("active"), "{table}");
    let revoked = owner.json(&["keys", "revoke", &id], &[]).await;
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let after = owner.ok(&["keys", "list"], &[]).await.stdout;
    assert!(after.contains("revoked"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_cashier_tops_up_at_their_store_and_the_owner_names_one() {
    let server = Server::start().await;
    let admin = server.app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Two Stores").await;
    let owner_api = server.app.merchant_client(&merchant).await;
    let opened = owner_api.post("/merchant/stores", serde_json::json!({ "code": "EAST", "name": "East" })).await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let hired = owner_api
        .post(
            "/merchant/staff",
            serde_json::json!({ "username": "ann", "name": "Ann", "role": "cashier", "store": "EAST",
                                "password": PASSWORD }),
        )
        .await;
    assert_eq!(hired.status, 201, "{}", hired.text);

    let cashier = Terminal::new(&server.url());
    cashier.login("merchant", &merchant.code, &["--username", "ann"]).await;
    let topped = cashier.json(&["topup", &member.card_no, "5.00"], &[]).await;
    assert_eq!(topped["transaction"]["store_code"], "EAST", "{topped}");
    assert_eq!(topped["transaction"]["staff_id"], hired.json["id"]);
    let elsewhere = cashier.run(&["topup", &member.card_no, "5.00", "--store", "MAIN"], &[]).await;
    assert_ne!(elsewhere.code, 0, "a store cashier cannot top up as another store: {elsewhere:?}");

    let owner = Terminal::new(&server.url());
    owner.login("merchant", &merchant.code, &[]).await;
    let named = owner.json(&["topup", &member.card_no, "2.00", "--store", "east"], &[]).await;
    assert_eq!(named["transaction"]["store_code"], "EAST", "{named}");
    let default = owner.json(&["topup", &member.card_no, "2.00"], &[]).await;
    assert_eq!(default["transaction"]["store_code"], "MAIN", "{default}");
}
