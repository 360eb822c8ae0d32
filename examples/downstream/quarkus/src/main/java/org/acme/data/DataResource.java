package org.acme.data;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;

/**
 * DataResource is the example data service behind Kong (kong/kong.yml:
 * /data, prefix stripped, so /data/me arrives here as /me). The identity
 * comes from the headers Kong's legacy-auth plugin sets, unverified: this
 * service relies on network isolation (see {@link GatewayUser}) and says so
 * at startup ({@link NetworkIsolationNotice}).
 */
@Path("/")
public class DataResource {

    @GET
    @Path("me")
    @Produces(MediaType.APPLICATION_JSON)
    public Response me(@HeaderParam(GatewayUser.USER_ID_HEADER) String userId,
                       @HeaderParam(GatewayUser.USER_ROLES_HEADER) String roles) {
        return GatewayUser.fromHeaders(userId, roles)
                .map(user -> Response.ok(user).build())
                .orElseGet(DataResource::missingIdentity);
    }

    @GET
    @Path("admin")
    @Produces(MediaType.APPLICATION_JSON)
    public Response admin(@HeaderParam(GatewayUser.USER_ID_HEADER) String userId,
                          @HeaderParam(GatewayUser.USER_ROLES_HEADER) String roles) {
        return GatewayUser.fromHeaders(userId, roles)
                .map(user -> user.hasRole("admin")
                        ? Response.ok(Map.of("message", "Hello, admin " + user.id())).build()
                        : Response.status(Response.Status.FORBIDDEN)
                                .entity(Map.of("message", "Role admin required")).build())
                .orElseGet(DataResource::missingIdentity);
    }

    @GET
    @Path("health")
    @Produces(MediaType.TEXT_PLAIN)
    public String health() {
        return "ok";
    }

    // Behind Kong a missing identity means the route lacks legacy-auth or the
    // request bypassed Kong: fail closed.
    private static Response missingIdentity() {
        return Response.status(Response.Status.UNAUTHORIZED)
                .type(MediaType.APPLICATION_JSON)
                .entity(Map.of("message", "Missing user identity"))
                .build();
    }
}
