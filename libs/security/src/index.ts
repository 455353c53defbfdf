export * from './acl';
export * from './passwords';
export * from './users';
export * from './authenticator';
