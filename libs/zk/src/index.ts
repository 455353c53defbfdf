// @hawser/zk: the promise-based ZooKeeper adapter every Hawser service uses.
export * from './errors';
export * from './client';
export * from './acl';
