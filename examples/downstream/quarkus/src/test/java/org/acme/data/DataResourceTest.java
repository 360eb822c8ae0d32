package org.acme.data;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.is;

import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

@QuarkusTest
class DataResourceTest {

    @Test
    void meWithIdAndRoles() {
        given().header("X-User-ID", "42").header("X-User-Roles", "admin,editor")
                .when().get("/me")
                .then().statusCode(200)
                .body("id", is("42"))
                .body("roles", contains("admin", "editor"));
    }

    @Test
    void meWithoutRoles() {
        given().header("X-User-ID", "u-1001")
                .when().get("/me")
                .then().statusCode(200)
                .body("id", is("u-1001"))
                .body("roles", empty());
    }

    @Test
    void meWithoutIdentityIs401() {
        given().when().get("/me")
                .then().statusCode(401)
                .body("message", is("Missing user identity"));
    }

    @Test
    void adminNeedsTheAdminRole() {
        given().header("X-User-ID", "42").header("X-User-Roles", "admin")
                .when().get("/admin")
                .then().statusCode(200)
                .body("message", is("Hello, admin 42"));
        given().header("X-User-ID", "u-1001")
                .when().get("/admin")
                .then().statusCode(403);
    }

    @Test
    void healthIsPublic() {
        given().when().get("/health")
                .then().statusCode(200)
                .body(is("ok"));
    }
}
