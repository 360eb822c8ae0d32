# frozen_string_literal: true

# Add to the monolith's config/routes.rb. Maps GET and POST
# /internal/auth/verify to Internal::Auth::VerifyController#verify, so the
# plugin's auth_method can be either.
Rails.application.routes.draw do
  namespace :internal do
    namespace :auth do
      match "verify", to: "verify#verify", via: %i[get post], defaults: { format: :json }
    end
  end
end
