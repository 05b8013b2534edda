// @ts-check
/* The console plugin: a module-federation remote the OpenShift console loads (dist/). */
const path = require('path');
const CopyWebpackPlugin = require('copy-webpack-plugin');
const { ConsoleRemotePlugin } = require('@openshift-console/dynamic-plugin-sdk-webpack');
const { isProd, tsRule, mjsRule, assetRule, minimizer } = require('./webpack.common');

/** @type {import('webpack').Configuration} */
module.exports = {
  mode: isProd ? 'production' : 'development',
  // No entry points of its own: ConsoleRemotePlugin generates plugin-entry.js and the exposed
  // modules, which package.json names relative to this context.
  entry: {},
  context: path.resolve(__dirname, 'src'),
  output: {
    path: path.resolve(__dirname, 'dist'),
    filename: isProd ? '[name]-bundle-[contenthash].min.js' : '[name]-bundle.js',
    chunkFilename: isProd ? '[name]-chunk-[chunkhash].min.js' : '[name]-chunk.js',
  },
  resolve: { extensions: ['.ts', '.tsx', '.js', '.jsx'] },
  module: {
    rules: [tsRule, { test: /\.css$/, use: ['style-loader', 'css-loader'] }, assetRule('assets'), mjsRule],
  },
  plugins: [
    new ConsoleRemotePlugin(),
    new CopyWebpackPlugin({ patterns: [{ from: path.resolve(__dirname, 'locales'), to: 'locales' }] }),
  ],
  devtool: isProd ? false : 'source-map',
  optimization: { chunkIds: isProd ? 'deterministic' : 'named', minimize: isProd, minimizer },
  performance: { hints: false },
};
