package org.acme.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class GatewayUserTest {

    @Test
    void integerIdAndTwoRoles() {
        assertEquals(Optional.of(new GatewayUser("42", List.of("admin", "editor"))),
                GatewayUser.fromHeaders("42", "admin,editor"));
    }

    @Test
    void stringIdWithoutRolesHeader() {
        assertEquals(Optional.of(new GatewayUser("u-1001", List.of())),
                GatewayUser.fromHeaders("u-1001", null));
    }

    @Test
    void emptyRolesHeaderMeansNoRoles() {
        assertEquals(Optional.of(new GatewayUser("u-1001", List.of())),
                GatewayUser.fromHeaders("u-1001", ""));
    }

    @Test
    void idBeyondLongIsKeptVerbatim() {
        assertEquals("123456789012345678901234567890",
                GatewayUser.fromHeaders("123456789012345678901234567890", null).orElseThrow().id());
    }

    @Test
    void blanksAndEmptyRolesAreDropped() {
        assertEquals(List.of("admin", "editor"),
                GatewayUser.fromHeaders("7", " admin , ,editor,").orElseThrow().roles());
    }

    @Test
    void missingOrBlankIdIsNoIdentity() {
        assertTrue(GatewayUser.fromHeaders(null, "admin").isEmpty());
        assertTrue(GatewayUser.fromHeaders("  ", null).isEmpty());
    }

    @Test
    void rolesAreUnmodifiable() {
        GatewayUser user = GatewayUser.fromHeaders("42", "admin").orElseThrow();
        assertThrows(UnsupportedOperationException.class, () -> user.roles().add("root"));
    }
}
