package org.acme.data;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * GatewayUser is the caller as authenticated by Kong's legacy-auth plugin.
 *
 * <ul>
 *   <li>{@code X-User-ID}: the user id exactly as Rails returned it. It stays
 *       a String: ids may be non-numeric ({@code u-1001}) or exceed
 *       {@code long}.</li>
 *   <li>{@code X-User-Roles}: the roles, comma-joined ({@code admin,editor}).
 *       Kong removes the header when the user has no roles; missing or empty
 *       both mean none.</li>
 * </ul>
 *
 * Kong removes any client-sent copy of both headers before setting them, so
 * they can be trusted only when every request reaches this service through
 * Kong (the service is not reachable from outside Kong's network).
 *
 * @param id    the user id, verbatim
 * @param roles the user's roles, unmodifiable; empty when the user has none
 */
public record GatewayUser(String id, List<String> roles) {

    /** Header carrying the user id (legacy-auth user_id_header). */
    public static final String USER_ID_HEADER = "X-User-ID";
    /** Header carrying the comma-joined roles (legacy-auth user_roles_header). */
    public static final String USER_ROLES_HEADER = "X-User-Roles";

    public GatewayUser {
        roles = List.copyOf(roles);
    }

    /**
     * fromHeaders reads the identity from the two header values (null when
     * absent). It is empty when there is no usable user id.
     */
    public static Optional<GatewayUser> fromHeaders(String userId, String rolesHeader) {
        if (userId == null || userId.isBlank()) {
            return Optional.empty();
        }
        List<String> roles = rolesHeader == null
                ? List.of()
                : Arrays.stream(rolesHeader.split(","))
                        .map(String::trim)
                        .filter(role -> !role.isEmpty())
                        .toList();
        return Optional.of(new GatewayUser(userId.trim(), roles));
    }

    /** hasRole reports whether the user has the role. */
    public boolean hasRole(String role) {
        return roles.contains(role);
    }
}
